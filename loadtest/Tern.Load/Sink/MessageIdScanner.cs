namespace Tern.Load.Sink;

/// <summary>
/// Pulls the Message-ID out of a message as its content streams past (RFC 5322 3.6.4): the first
/// <c>Message-ID:</c> field (name case-insensitive) of the header section, unfolded (a field goes on
/// over lines that begin with white space, 2.2.3). The id is the text between <c>&lt;</c> and
/// <c>&gt;</c>, or the trimmed value when there are no angle brackets. Scanning stops at the end of
/// the id's field or of the header section, so the body costs nothing. Buffers are preallocated:
/// nothing is allocated per message.
/// </summary>
internal sealed class MessageIdScanner
{
    /// <summary>Longest header line kept (RFC 5322 2.1.1 allows 998 characters); longer lines are cut.</summary>
    private const int MaxLine = 1000;

    private readonly byte[] _line = new byte[MaxLine];
    private readonly byte[] _value = new byte[MaxLine];
    private int _lineLength;
    private int _valueLength;
    private int _idStart;
    private int _idLength;
    private State _state;

    private enum State : byte
    {
        /// <summary>In the header section, no Message-ID yet.</summary>
        Headers,

        /// <summary>Inside the Message-ID field: continuation lines belong to it.</summary>
        InMessageId,

        /// <summary>The id was found or the header section ended.</summary>
        Done,
    }

    private static ReadOnlySpan<byte> FieldName => "message-id:"u8;

    /// <summary>The id of the last finished message (empty when it had none).</summary>
    public ReadOnlySpan<byte> Id => _value.AsSpan(_idStart, _idLength);

    /// <summary>Starts a new message.</summary>
    public void Reset()
    {
        _state = State.Headers;
        _lineLength = 0;
        _valueLength = 0;
        _idStart = 0;
        _idLength = 0;
    }

    /// <summary>Takes the next piece of content (DATA content as received, or BDAT chunk bytes).</summary>
    public void Feed(ReadOnlySpan<byte> data)
    {
        while (_state != State.Done && !data.IsEmpty)
        {
            var lf = data.IndexOf((byte)'\n');
            if (lf < 0)
            {
                Keep(data);
                return;
            }

            ReadOnlySpan<byte> line;
            if (_lineLength == 0)
            {
                line = data[..lf];
            }
            else
            {
                Keep(data[..lf]);
                line = _line.AsSpan(0, _lineLength);
            }

            if (!line.IsEmpty && line[^1] == '\r')
            {
                line = line[..^1];
            }

            OnLine(line);
            _lineLength = 0;
            data = data[(lf + 1)..];
        }
    }

    /// <summary>Ends the message: an id still being collected (no line after it) is taken as it is.</summary>
    public void Finish()
    {
        if (_state != State.Done && _lineLength > 0)
        {
            // A last line without a line end (BDAT content need not end with CRLF).
            var line = _line.AsSpan(0, _lineLength);
            _lineLength = 0;
            OnLine(!line.IsEmpty && line[^1] == '\r' ? line[..^1] : line);
        }

        EndOfHeader();
    }

    private void EndOfHeader()
    {
        if (_state == State.InMessageId)
        {
            TakeId();
        }

        _state = State.Done;
    }

    private void Keep(ReadOnlySpan<byte> part)
    {
        var room = MaxLine - _lineLength;
        var n = Math.Min(room, part.Length);
        part[..n].CopyTo(_line.AsSpan(_lineLength));
        _lineLength += n;
    }

    private void OnLine(ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty)
        {
            // The end of the header section.
            EndOfHeader();
            return;
        }

        if (line[0] is (byte)' ' or (byte)'\t')
        {
            if (_state == State.InMessageId)
            {
                Append(line);
            }

            return;
        }

        if (_state == State.InMessageId)
        {
            TakeId();
            _state = State.Done;
            return;
        }

        if (line.Length >= FieldName.Length && System.Text.Ascii.EqualsIgnoreCase(line[..FieldName.Length], FieldName))
        {
            _state = State.InMessageId;
            _valueLength = 0;
            Append(line[FieldName.Length..]);
        }
    }

    private void Append(ReadOnlySpan<byte> part)
    {
        var n = Math.Min(_value.Length - _valueLength, part.Length);
        part[..n].CopyTo(_value.AsSpan(_valueLength));
        _valueLength += n;
    }

    private void TakeId()
    {
        var value = _value.AsSpan(0, _valueLength);
        var open = value.IndexOf((byte)'<');
        if (open >= 0)
        {
            var close = value[(open + 1)..].IndexOf((byte)'>');
            if (close >= 0)
            {
                _idStart = open + 1;
                _idLength = close;
                return;
            }
        }

        // No angle brackets: the value without the surrounding white space.
        var start = 0;
        while (start < value.Length && value[start] is (byte)' ' or (byte)'\t')
        {
            start++;
        }

        var end = value.Length;
        while (end > start && value[end - 1] is (byte)' ' or (byte)'\t')
        {
            end--;
        }

        _idStart = start;
        _idLength = end - start;
    }
}
