using System.Buffers;
using System.Diagnostics;
using System.Text;

namespace Tern.Observability.Logging;

/// <summary>
/// Serialises whole log lines onto one stream (stderr in the host) so that lines from concurrent
/// threads never interleave. Lines are gathered in a buffer and written by a background thread at
/// most <c>delay</c> after the first of them: at thousands of messages a second (a line per accepted
/// and per delivered message) one write(2) per line was ~1.7 system calls per relayed message on the
/// delivery and SMTP threads; gathered, it is one write per delay. A zero delay writes each line at
/// once on the caller's thread. <see cref="Flush"/> and <see cref="Dispose"/> write what is pending;
/// a SIGKILL loses at most the last delay's lines, as a syslog daemon's buffer would. The write(2)
/// itself happens outside the lock that loggers take (the full buffer is swapped with a spare one),
/// so a logging thread waits for the output only when the 64 KiB buffer is full.
/// </summary>
public sealed class LogSink : IDisposable
{
    /// <summary>The default gathering delay (lines reach stderr at most this late).</summary>
    public static readonly TimeSpan DefaultDelay = TimeSpan.FromMilliseconds(2);

    /// <summary>Pending bytes beyond which the writing thread itself writes them out.</summary>
    private const int BufferSize = 64 * 1024;

    private readonly Stream _output;
    private readonly TimeSpan _delay;
    private readonly Lock _lock = new();

    /// <summary>Serialises writes to the output, in the order the lines were gathered; taken before <see cref="_lock"/>, never inside it.</summary>
    private readonly Lock _writeLock = new();
    private byte[] _pending;
    private byte[] _spare;
    // The writer's wake-up: a POSIX semaphore (see WakeEvent), one futex call to wake the writer and
    // none to sleep again. A ManualResetEventSlim (without spinning: a spinning wait cost ~5 % of the CPU
    // of a one-session relay) sleeps and wakes through Monitor on Native AOT, several futex calls and
    // context switches per use, and its timed wait for the gathering delay added as many again.
    private readonly Tern.Platform.WakeEvent? _signal;
    private readonly Thread? _writer;
    private int _length;
    private bool _scheduled;
    private bool _disposed;

    /// <summary>A sink gathering lines for <see cref="DefaultDelay"/>.</summary>
    public LogSink(Stream output)
        : this(output, DefaultDelay)
    {
    }

    /// <summary>A sink gathering lines for <paramref name="delay"/> (zero: every line written at once).</summary>
    public LogSink(Stream output, TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        _output = output;
        _delay = delay;
        _pending = delay > TimeSpan.Zero ? new byte[BufferSize] : [];
        _spare = delay > TimeSpan.Zero ? new byte[BufferSize] : [];
        if (delay > TimeSpan.Zero)
        {
            _signal = new Tern.Platform.WakeEvent();
            _writer = new Thread(WriterLoop) { IsBackground = true, Name = "log writer" };
            _writer.Start();
        }
    }

    public void Write(StringBuilder line)
    {
        var most = Encoding.UTF8.GetMaxByteCount(line.Length);
        while (true)
        {
            lock (_lock)
            {
                if (_signal is null || _disposed || most > _pending.Length)
                {
                    break;
                }

                // The common case: encoded straight into the pending buffer, no copy in between.
                if (most <= _pending.Length - _length)
                {
                    _length += Encode(line, _pending.AsSpan(_length));
                    if (!_scheduled)
                    {
                        _scheduled = true;
                        _signal.Set();
                    }

                    return;
                }
            }

            // The buffer is full: written out here, then the line goes into the emptied one.
            WritePending();
        }

        // Unbuffered, stopped, or a line larger than the buffer: written at once, after what is pending.
        var bytes = ArrayPool<byte>.Shared.Rent(most);
        try
        {
            var n = Encode(line, bytes);
            lock (_writeLock)
            {
                WritePending();
                WriteOut(bytes, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>UTF-8 of the whole line into <paramref name="destination"/> (large enough: at most GetMaxByteCount).</summary>
    private static int Encode(StringBuilder line, Span<byte> destination)
    {
        var n = 0;
        foreach (var chunk in line.GetChunks())
        {
            // Lines are built in one chunk; a surrogate pair split across chunks would not survive
            // per-chunk encoding, so a multi-chunk line goes through one contiguous copy.
            if (chunk.Length != line.Length)
            {
                var chars = ArrayPool<char>.Shared.Rent(line.Length);
                try
                {
                    line.CopyTo(0, chars, 0, line.Length);
                    return Encoding.UTF8.GetBytes(chars.AsSpan(0, line.Length), destination);
                }
                finally
                {
                    ArrayPool<char>.Shared.Return(chars);
                }
            }

            n = Encoding.UTF8.GetBytes(chunk.Span, destination);
        }

        return n;
    }

    /// <summary>Writes the pending lines now.</summary>
    public void Flush() => WritePending();

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        WritePending();

        // The writer sees the dispose within one nap of its gathering (MaxNap) and ends.
        _signal?.Set();
        _writer?.Join();
    }

    private void WriterLoop()
    {
        while (true)
        {
            _signal!.Wait();

            // Gather what else arrives meanwhile: one write for all of it.
            Gather();

            bool disposed;
            lock (_lock)
            {
                // Under the lock: a line after this schedules the next write again (and sets the
                // signal, which the next Wait then finds at once).
                _scheduled = false;
                disposed = _disposed;
            }

            WritePending();
            if (disposed)
            {
                return;
            }
        }
    }

    /// <summary>Longest single sleep while gathering: a dispose waits at most this long for the writer.</summary>
    private static readonly TimeSpan MaxNap = TimeSpan.FromMilliseconds(10);

    /// <summary>Sleeps for the gathering delay, in naps of at most <see cref="MaxNap"/>, or until disposed.</summary>
    private void Gather()
    {
        var end = Stopwatch.GetTimestamp() + (long)(_delay.TotalSeconds * Stopwatch.Frequency);
        while (!Volatile.Read(ref _disposed))
        {
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), end);
            if (left <= TimeSpan.Zero)
            {
                return;
            }

            // Whole milliseconds, at least one: Thread.Sleep(0) would only yield, and spin here.
            Thread.Sleep(Math.Max(1, (int)Math.Ceiling(Math.Min(left.TotalMilliseconds, MaxNap.TotalMilliseconds))));
        }
    }

    /// <summary>Swaps the gathered lines out under the lock and writes them outside it.</summary>
    private void WritePending()
    {
        lock (_writeLock)
        {
            byte[] full;
            int count;
            lock (_lock)
            {
                if (_length == 0)
                {
                    return;
                }

                (full, count) = (_pending, _length);
                (_pending, _spare, _length) = (_spare, _pending, 0);
            }

            WriteOut(full, count);
        }
    }

    /// <summary>Under <see cref="_writeLock"/>.</summary>
    private void WriteOut(byte[] bytes, int count)
    {
        try
        {
            _output.Write(bytes, 0, count);
            _output.Flush();
        }
        catch (IOException)
        {
            // A closed stderr (e.g. the operator's pipe went away) must not take the server down.
        }
        catch (ObjectDisposedException)
        {
            // The same, for a stream closed under us at exit.
        }
    }
}
