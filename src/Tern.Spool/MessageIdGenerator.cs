using System.Security.Cryptography;

namespace Tern.Spool;

/// <summary>
/// Hands out <see cref="MessageId"/>s in arrival order. A fresh id orders by its millisecond only;
/// two messages in one millisecond (commits take ~0.3 ms) would compare by their random bits. As in
/// ULID's monotonic mode, an id that would not sort after the previous one is the previous one plus
/// one instead, so the spool's ids sort by arrival even within a millisecond, and when the clock
/// steps back. Thread-safe; one per spool.
/// </summary>
internal sealed class MessageIdGenerator(TimeProvider clock)
{
    // Random bits drawn 64 ids at a time: one CSPRNG call per id (OpenSSL's RAND_bytes, with a getpid
    // system call for its fork check) was a measurable part of accepting a message.
    private const int RandomBytesPerId = 10;
    private readonly byte[] _random = new byte[RandomBytesPerId * 64];
    private readonly Lock _lock = new();
    private int _randomUsed = RandomBytesPerId * 64;
    private MessageId _last;

    public MessageId Next()
    {
        lock (_lock)
        {
            if (_randomUsed == _random.Length)
            {
                RandomNumberGenerator.Fill(_random);
                _randomUsed = 0;
            }

            var fresh = MessageId.New(clock.GetUtcNow(), _random.AsSpan(_randomUsed, RandomBytesPerId));
            _randomUsed += RandomBytesPerId;
            if (!After(fresh, _last))
            {
                // The 80 random bits count up; a carry into the milliseconds would take 2^80 ids.
                var low = _last.Low + 1;
                fresh = new MessageId(low == 0 ? _last.High + 1 : _last.High, low);
            }

            _last = fresh;
            return fresh;
        }
    }

    private static bool After(MessageId a, MessageId b) => a.High > b.High || (a.High == b.High && a.Low > b.Low);
}
