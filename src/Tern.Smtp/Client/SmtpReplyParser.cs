using System.Buffers;

namespace Tern.Smtp.Client;

/// <summary>Why a reply could not be read. Any of them leaves the connection out of step: close it.</summary>
public enum SmtpReplyError : byte
{
    None,

    /// <summary>A line longer than <see cref="SmtpReplyLimits.MaxLineLength"/>.</summary>
    LineTooLong,

    /// <summary>More lines than <see cref="SmtpReplyLimits.MaxLines"/>.</summary>
    TooManyLines,

    /// <summary>No three-digit code of class 2-5, a separator other than "-" or " ", or a continuation line with another code.</summary>
    Malformed,
}

/// <summary>Bounds on what a server may send as one reply, so that reading one never buffers without limit.</summary>
public sealed record SmtpReplyLimits
{
    /// <summary>
    /// Longest line, in bytes, without its line end. RFC 5321 4.5.3.1.5 allows 512 with the CRLF;
    /// real servers exceed it with long rejection texts, so the default is four times that.
    /// </summary>
    public int MaxLineLength { get; init; } = 2048;

    /// <summary>Most lines in one reply (EHLO replies have a dozen or two; rejection texts a few).</summary>
    public int MaxLines { get; init; } = 128;
}

/// <summary>
/// Reads SMTP replies (RFC 5321 section 4.2) from a pipe. A reply is one or more lines
/// "ddd-text" ending with "ddd text" (or "ddd" alone); the parser consumes complete lines as
/// they arrive and keeps their text in one pooled buffer, so it allocates nothing per reply. The
/// finished reply is read through <see cref="Current"/> until the next call to TryParse; call
/// <see cref="ToReply"/> to keep it. One parser per connection; not thread-safe.
/// </summary>
/// <remarks>
/// Lenient where servers are sloppy and it is harmless: a bare LF ends a line like CRLF, and the
/// last line may be the code alone. The enhanced status code (RFC 3463) is taken from the start of
/// the first line's text whenever it is syntactically one, whether or not ENHANCEDSTATUSCODES was
/// announced (RFC 2034 servers always put it there; others sometimes do), and only when its class
/// matches the reply code's.
/// </remarks>
public sealed class SmtpReplyParser : IDisposable
{
    private const int InitialTextCapacity = 1024;
    private readonly int _maxLineLength;
    private readonly int _maxLines;
    private byte[] _text;
    private int[] _lines;
    private int _textLength;
    private int _lineCount;
    private int _code;
    private bool _complete;

    public SmtpReplyParser(SmtpReplyLimits? limits = null)
    {
        limits ??= new SmtpReplyLimits();
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.MaxLineLength, 3, nameof(limits));
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.MaxLines, 1, nameof(limits));
        _maxLineLength = limits.MaxLineLength;
        _maxLines = limits.MaxLines;
        _text = ArrayPool<byte>.Shared.Rent(InitialTextCapacity);
        _lines = ArrayPool<int>.Shared.Rent(2 * Math.Min(_maxLines, 16));
    }

    /// <summary>The reply completed by the last successful TryParse.</summary>
    public SmtpReplyView Current => new(this);

    /// <summary>
    /// Consumes complete lines from <paramref name="reader"/>. False: the reply is not complete yet
    /// (the lines read so far are kept; give more input, starting where the reader stopped). True:
    /// the reply is complete (<paramref name="error"/> None, see <see cref="Current"/>) or cannot be
    /// read (<paramref name="error"/> says why; the reader stops at the offending line).
    /// </summary>
    public bool TryParse(ref SequenceReader<byte> reader, out SmtpReplyError error)
    {
        if (_complete)
        {
            _complete = false;
            _textLength = 0;
            _lineCount = 0;
            _code = 0;
        }

        while (true)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n', advancePastDelimiter: true))
            {
                // No line end yet: bounded, so a server cannot make us buffer without limit.
                if (reader.Remaining > _maxLineLength + 1)
                {
                    return Fail(SmtpReplyError.LineTooLong, out error);
                }

                error = SmtpReplyError.None;
                return false;
            }

            if (line.Length > _maxLineLength + 1)
            {
                return Fail(SmtpReplyError.LineTooLong, out error);
            }

            error = AddLine(line, out var last);
            if (error != SmtpReplyError.None)
            {
                return Fail(error, out error);
            }

            if (last)
            {
                _complete = true;
                return true;
            }
        }
    }

    /// <summary>
    /// Like the reader overload, on a pipe's buffer: <paramref name="buffer"/> is sliced to what
    /// was not consumed.
    /// </summary>
    public bool TryParse(ref ReadOnlySequence<byte> buffer, out SmtpReplyError error)
    {
        var reader = new SequenceReader<byte>(buffer);
        var done = TryParse(ref reader, out error);
        buffer = buffer.Slice(reader.Position);
        return done;
    }

    /// <summary>Keeps the current reply: one allocation per line, for results that outlive the next command.</summary>
    public SmtpReply ToReply()
    {
        var lines = new string[_lineCount];
        for (var i = 0; i < lines.Length; i++)
        {
            lines[i] = SmtpReply.Decode(LineText(i));
        }

        return new SmtpReply(_code, Current.EnhancedCode, lines, isLocal: false);
    }

    public void Dispose()
    {
        var text = Interlocked.Exchange(ref _text, []);
        var lines = Interlocked.Exchange(ref _lines, []);
        if (text.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(text);
        }

        if (lines.Length > 0)
        {
            ArrayPool<int>.Shared.Return(lines);
        }
    }

    internal int Code => _code;

    internal int LineCount => _lineCount;

    internal ReadOnlySpan<byte> LineText(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_lineCount, nameof(index));
        return _text.AsSpan(_lines[2 * index], _lines[(2 * index) + 1]);
    }

    private bool Fail(SmtpReplyError reason, out SmtpReplyError error)
    {
        error = reason;
        _complete = true;
        _lineCount = 0;
        _code = 0;
        return true;
    }

    /// <summary>Validates one line (without its LF) and appends its text; RFC 5321 4.2.1 grammar.</summary>
    private SmtpReplyError AddLine(in ReadOnlySequence<byte> line, out bool last)
    {
        last = false;
        var length = (int)line.Length;
        EnsureTextCapacity(length);

        // One segment (nearly always): validate in place and copy only the text. Split across
        // segments: copy it whole into the text buffer first and validate there.
        ReadOnlySpan<byte> span;
        if (line.IsSingleSegment)
        {
            span = line.FirstSpan;
        }
        else
        {
            line.CopyTo(_text.AsSpan(_textLength));
            span = _text.AsSpan(_textLength, length);
        }

        // TryReadTo left the LF out; a CR before it is dropped too. A bare LF is accepted as a line end.
        if (span.Length > 0 && span[^1] == '\r')
        {
            span = span[..^1];
        }

        if (span.Length < 3 || span[0] is < (byte)'2' or > (byte)'5' || (uint)(span[1] - '0') > 9 || (uint)(span[2] - '0') > 9)
        {
            return SmtpReplyError.Malformed;
        }

        var code = ((span[0] - '0') * 100) + ((span[1] - '0') * 10) + (span[2] - '0');
        if (span.Length == 3 || span[3] == ' ')
        {
            last = true;
        }
        else if (span[3] != '-')
        {
            return SmtpReplyError.Malformed;
        }

        if (_lineCount > 0 && code != _code)
        {
            // RFC 5321 4.2.1: every line of a reply has the same code; anything else is out of step.
            return SmtpReplyError.Malformed;
        }

        if (_lineCount >= _maxLines)
        {
            return SmtpReplyError.TooManyLines;
        }

        var text = span.Length > 4 ? span[4..] : default;
        var start = _textLength + (span.Length > 4 ? 4 : 0);
        if (line.IsSingleSegment)
        {
            start = _textLength;
            text.CopyTo(_text.AsSpan(start));
        }

        _textLength = start + text.Length;
        EnsureLineCapacity();
        _lines[2 * _lineCount] = start;
        _lines[(2 * _lineCount) + 1] = text.Length;
        _lineCount++;
        _code = code;
        return SmtpReplyError.None;
    }

    private void EnsureTextCapacity(int more)
    {
        if (_textLength + more <= _text.Length)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_text.Length * 2, _textLength + more));
        _text.AsSpan(0, _textLength).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_text);
        _text = bigger;
    }

    private void EnsureLineCapacity()
    {
        if ((2 * _lineCount) + 2 <= _lines.Length)
        {
            return;
        }

        var bigger = ArrayPool<int>.Shared.Rent(Math.Max(_lines.Length * 2, (2 * _lineCount) + 2));
        _lines.AsSpan(0, 2 * _lineCount).CopyTo(bigger);
        ArrayPool<int>.Shared.Return(_lines);
        _lines = bigger;
    }
}

/// <summary>
/// The reply a <see cref="SmtpReplyParser"/> has just completed, viewed in place (no copies). Valid
/// until the parser's next TryParse.
/// </summary>
public readonly ref struct SmtpReplyView
{
    private readonly SmtpReplyParser _parser;

    internal SmtpReplyView(SmtpReplyParser parser) => _parser = parser;

    public int Code => _parser.Code;

    /// <summary>2 (success), 3 (intermediate), 4 (transient) or 5 (permanent).</summary>
    public int Class => _parser.Code / 100;

    public int LineCount => _parser.LineCount;

    /// <summary>The text of line <paramref name="index"/> after the code and separator.</summary>
    public ReadOnlySpan<byte> Line(int index) => _parser.LineText(index);

    /// <summary>The enhanced status code at the start of the first line, when its class matches the reply's.</summary>
    public EnhancedStatusCode? EnhancedCode =>
        _parser.LineCount > 0 && EnhancedStatusCode.TryParse(_parser.LineText(0), out var code, out _) && code.Class == _parser.Code / 100
            ? code
            : null;
}
