using System.IO.Hashing;

namespace Tern.Load;

/// <summary>
/// The body digest of the --ids files: XxHash64 (seed 0) of a message's content as its author wrote
/// it, so that the sender (<c>send</c>) and the receiver (<c>sink</c>) at the other end of a relay
/// compute the same value when the relay changed nothing but its trace:
/// <list type="bullet">
/// <item>Content fed in the DATA form (<see cref="Reset"/> with <c>dotStuffed</c>) is unstuffed as
/// RFC 5321 4.5.2 says (a line's leading '.' is deleted) and ends at the <c>.CRLF</c> line (4.1.1.4),
/// which is not part of the content; anything fed after it is ignored. BDAT content (RFC 3030) is
/// taken as it is.</item>
/// <item>The trace fields a relay prepends at the top of the header section (<c>Received</c>,
/// RFC 5321 4.4, and the other fields listed in <see cref="IsTraceField"/>) are skipped with their
/// continuation lines, as long as they come before any other field.</item>
/// </list>
/// Content can come in pieces split at any byte. One instance per connection, <see cref="Reset"/>
/// per message: nothing is allocated per message.
/// </summary>
internal sealed class ContentDigest
{
    /// <summary>Longest field name looked at: any longer name is not a trace field.</summary>
    private const int MaxName = 32;

    private readonly XxHash64 _hash = new();
    private readonly byte[] _pending = new byte[MaxName + 1];
    private int _pendingLength;
    private bool _dotStuffed;
    private Line _line;
    private Header _header;

    /// <summary>Where the unstuffing is in the current line (DATA form).</summary>
    private enum Line : byte
    {
        /// <summary>At the first byte of a line.</summary>
        Start,

        /// <summary>The line began with '.', which was deleted.</summary>
        Dot,

        /// <summary>"." and CR: the end of data if LF follows.</summary>
        DotCr,

        /// <summary>Inside a line.</summary>
        Middle,

        /// <summary>The end-of-data line was seen.</summary>
        Done,
    }

    /// <summary>Where the trace skipping is.</summary>
    private enum Header : byte
    {
        /// <summary>At the start of a header line: collecting its name to decide.</summary>
        Deciding,

        /// <summary>Inside a trace field: dropped up to its line end.</summary>
        SkipField,

        /// <summary>After a trace field's line: a continuation line (leading white space) belongs to it.</summary>
        SkipLineStart,

        /// <summary>Past the trace: everything is hashed.</summary>
        Hashing,
    }

    /// <summary>Starts a message; <paramref name="dotStuffed"/> for DATA content (with its end line).</summary>
    public void Reset(bool dotStuffed)
    {
        _hash.Reset();
        _dotStuffed = dotStuffed;
        _line = Line.Start;
        _header = Header.Deciding;
        _pendingLength = 0;
    }

    /// <summary>The DATA form's end-of-data line was seen.</summary>
    public bool Ended => _line == Line.Done;

    /// <summary>The next piece of content, as received.</summary>
    public void Feed(ReadOnlySpan<byte> data)
    {
        if (!_dotStuffed)
        {
            Emit(data);
            return;
        }

        while (!data.IsEmpty)
        {
            switch (_line)
            {
                case Line.Done:
                    return;
                case Line.Start:
                    if (data[0] == '.')
                    {
                        _line = Line.Dot;
                        data = data[1..];
                        continue;
                    }

                    break;
                case Line.Dot:
                    if (data[0] == '\r')
                    {
                        _line = Line.DotCr;
                        data = data[1..];
                        continue;
                    }

                    // A stuffed dot (RFC 5321 4.5.2): deleted, the rest of the line is content.
                    break;
                case Line.DotCr:
                    if (data[0] == '\n')
                    {
                        _line = Line.Done;
                        return;
                    }

                    // "." CR and something else: not the end; the CR is content.
                    Emit("\r"u8);
                    break;
            }

            _line = Line.Middle;
            var lf = data.IndexOf((byte)'\n');
            if (lf < 0)
            {
                Emit(data);
                return;
            }

            Emit(data[..(lf + 1)]);
            data = data[(lf + 1)..];
            _line = Line.Start;
        }
    }

    /// <summary>The digest of the message fed since <see cref="Reset"/>.</summary>
    public ulong Finish()
    {
        if (_header == Header.Deciding && _pendingLength > 0)
        {
            // A last line too short to decide on (content without a line end): it is content.
            _hash.Append(_pending.AsSpan(0, _pendingLength));
            _pendingLength = 0;
        }

        _header = Header.Hashing;
        return _hash.GetCurrentHashAsUInt64();
    }

    /// <summary>The digest of one whole message given at once (the sender's side).</summary>
    public ulong Of(ReadOnlySpan<byte> content, bool dotStuffed = false)
    {
        Reset(dotStuffed);
        Feed(content);
        return Finish();
    }

    /// <summary>
    /// Header fields a relay adds at the top of a message: trace fields (RFC 5321 4.4, RFC 5322 3.6.7:
    /// Received, Return-Path), authentication results and signatures (RFC 8601, RFC 6376, RFC 8617).
    /// </summary>
    internal static bool IsTraceField(ReadOnlySpan<byte> name) =>
        Is(name, "Received"u8) || Is(name, "Return-Path"u8) || Is(name, "DKIM-Signature"u8) || Is(name, "Authentication-Results"u8)
        || Is(name, "ARC-Seal"u8) || Is(name, "ARC-Message-Signature"u8) || Is(name, "ARC-Authentication-Results"u8) || Is(name, "Received-SPF"u8);

    private static bool Is(ReadOnlySpan<byte> name, ReadOnlySpan<byte> field) =>
        name.Length == field.Length && System.Text.Ascii.EqualsIgnoreCase(name, field);

    /// <summary>Unstuffed content: past the leading trace fields into the hash.</summary>
    private void Emit(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            switch (_header)
            {
                case Header.Hashing:
                    _hash.Append(data);
                    return;
                case Header.SkipField:
                {
                    var lf = data.IndexOf((byte)'\n');
                    if (lf < 0)
                    {
                        return;
                    }

                    data = data[(lf + 1)..];
                    _header = Header.SkipLineStart;
                    continue;
                }

                case Header.SkipLineStart:
                    // RFC 5322 2.2.3: a line that begins with white space continues the field.
                    _header = data[0] is (byte)' ' or (byte)'\t' ? Header.SkipField : Header.Deciding;
                    continue;
                default:
                    data = Decide(data);
                    continue;
            }
        }
    }

    /// <summary>Collects the start of a header line until its name is known; returns what is left.</summary>
    private ReadOnlySpan<byte> Decide(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length)
        {
            var b = data[i];
            if (b == ':')
            {
                if (IsTraceField(_pending.AsSpan(0, _pendingLength)))
                {
                    _pendingLength = 0;
                    _header = Header.SkipField;
                    return data[(i + 1)..];
                }

                break;
            }

            // Not a field name (RFC 5322 2.2: printable ASCII but ':'), or too long for a trace field.
            if (b is <= 32 or >= 127 || _pendingLength == MaxName)
            {
                break;
            }

            _pending[_pendingLength++] = b;
            i++;
        }

        if (i == data.Length)
        {
            // The name goes on in the next piece.
            return default;
        }

        // Not a trace field: the trace is over and this line is content.
        _hash.Append(_pending.AsSpan(0, _pendingLength));
        _pendingLength = 0;
        _header = Header.Hashing;
        return data[i..];
    }
}
