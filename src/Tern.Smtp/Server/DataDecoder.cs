namespace Tern.Smtp.Server;

/// <summary>Problems found in message data; the message is refused at its end, after the terminator.</summary>
[Flags]
public enum DataProblems : byte
{
    None = 0,

    /// <summary>LF without CR or CR without LF: refused against SMTP smuggling (RFC 5321 2.3.8).</summary>
    BareLineEnding = 1,

    /// <summary>A text line over the limit (RFC 5321 4.5.3.1.6).</summary>
    LineTooLong = 2,

    /// <summary>More bytes than the message size limit (RFC 1870).</summary>
    TooBig = 4,
}

/// <summary>Receives decoded message bytes.</summary>
public interface IDataSink
{
    void Write(ReadOnlySpan<byte> data);
}

/// <summary>
/// Streams DATA content (RFC 5321 4.1.1.4): finds the terminating <c>CRLF.CRLF</c>, removes the
/// transparency dot (4.5.2), and passes the content on as it arrives, without buffering the message.
/// Bare CR and bare LF are flagged (never treated as line ends, so a smuggled "LF.LF" cannot end the
/// data); size and line length are checked on the way. After a problem the decoder keeps looking for
/// the terminator but stops passing data on.
/// </summary>
public struct DataDecoder
{
    private State _state;
    private int _lineLength;
    private readonly int _maxLine;
    private readonly long _maxSize;

    public DataDecoder(long maxSize, int maxLine)
    {
        _maxSize = maxSize;
        _maxLine = maxLine;
        _state = State.LineStart;
        Size = 0;
        Problems = DataProblems.None;
        EightBit = false;
    }

    private enum State : byte
    {
        LineStart,
        InLine,
        SawCr,
        DotAtLineStart,
        DotCr,
    }

    /// <summary>Content bytes passed on so far (after unstuffing).</summary>
    public long Size { get; private set; }

    public DataProblems Problems { get; private set; }

    /// <summary>Whether any content byte had the high bit set.</summary>
    public bool EightBit { get; private set; }

    /// <summary>
    /// Decodes from <paramref name="input"/>. Returns true when the terminator was seen;
    /// <paramref name="consumed"/> counts the bytes used (the terminator included). Content before the
    /// final CRLF of the terminator belongs to the message, so the message ends with CRLF.
    /// </summary>
    public bool Decode<TSink>(ReadOnlySpan<byte> input, TSink sink, out int consumed)
        where TSink : IDataSink
    {
        var i = 0;
        var runStart = 0;
        while (i < input.Length)
        {
            switch (_state)
            {
                case State.LineStart:
                    if (input[i] == '.')
                    {
                        Emit(sink, input[runStart..i]);
                        _state = State.DotAtLineStart;
                        i++;
                        runStart = i;
                        continue;
                    }

                    _state = State.InLine;
                    continue;

                case State.InLine:
                {
                    var rest = input[i..];
                    var idx = rest.IndexOfAny((byte)'\r', (byte)'\n');
                    var lineBytes = idx < 0 ? rest.Length : idx;
                    if (!EightBit && rest[..lineBytes].IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0)
                    {
                        EightBit = true;
                    }

                    _lineLength += lineBytes;
                    if (_lineLength + 2 > _maxLine)
                    {
                        Problems |= DataProblems.LineTooLong;
                    }

                    if (idx < 0)
                    {
                        i = input.Length;
                        continue;
                    }

                    i += idx;
                    if (input[i] == '\n')
                    {
                        // Bare LF: flagged, and not a line end (a smuggled LF.LF must not terminate).
                        Problems |= DataProblems.BareLineEnding;
                        i++;
                        _lineLength++;
                        continue;
                    }

                    // CR: hold it back until we know whether LF follows.
                    Emit(sink, input[runStart..i]);
                    i++;
                    runStart = i;
                    _state = State.SawCr;
                    continue;
                }

                case State.SawCr:
                    if (input[i] == '\n')
                    {
                        Emit(sink, "\r\n"u8);
                        i++;
                        runStart = i;
                        _lineLength = 0;
                        _state = State.LineStart;
                        continue;
                    }

                    Problems |= DataProblems.BareLineEnding;
                    Emit(sink, "\r"u8);
                    _lineLength++;
                    _state = State.InLine;
                    continue;

                case State.DotAtLineStart:
                    if (input[i] == '\r')
                    {
                        i++;
                        runStart = i;
                        _state = State.DotCr;
                        continue;
                    }

                    // A transparency dot: dropped; the rest of the line is content (4.5.2).
                    _state = State.InLine;
                    continue;

                case State.DotCr:
                    if (input[i] == '\n')
                    {
                        consumed = i + 1;
                        _state = State.LineStart;
                        return true;
                    }

                    // ".\r" followed by something else: a bare CR on a line that began with a dot.
                    Problems |= DataProblems.BareLineEnding;
                    Emit(sink, "\r"u8);
                    _state = State.InLine;
                    continue;
            }
        }

        if (_state is State.InLine or State.LineStart)
        {
            Emit(sink, input[runStart..]);
        }

        consumed = input.Length;
        return false;
    }

    private void Emit<TSink>(TSink sink, ReadOnlySpan<byte> data)
        where TSink : IDataSink
    {
        if (data.IsEmpty)
        {
            return;
        }

        Size += data.Length;
        if (Size > _maxSize)
        {
            Problems |= DataProblems.TooBig;
        }

        if (Problems == DataProblems.None)
        {
            sink.Write(data);
        }
    }
}
