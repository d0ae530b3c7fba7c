namespace Tern.Load.Sink;

/// <summary>
/// Finds the end of DATA content, <c>CRLF.CRLF</c> (RFC 5321 4.1.1.4), in input that arrives in
/// pieces: the terminator may be split across reads at any byte, so the number of its bytes seen at
/// the end of one piece carries over to the next. The sink discards the content, so dot-unstuffing
/// (4.5.2) is not needed: a stuffed line starts with <c>..</c>, which never matches.
/// </summary>
internal struct DataTerminatorScanner
{
    private int _matched;

    private static ReadOnlySpan<byte> Terminator => "\r\n.\r\n"u8;

    /// <summary>
    /// Starts a message: the CRLF that ended the DATA command counts as the terminator's first two
    /// bytes, so content that is just <c>.CRLF</c> (an empty message) ends at once.
    /// </summary>
    public void Reset() => _matched = 2;

    /// <summary>
    /// Looks for the terminator in <paramref name="input"/>. Returns the index just past it, or -1
    /// when the piece holds no end (all of it is content, possibly ending in part of a terminator).
    /// </summary>
    public int Scan(ReadOnlySpan<byte> input)
    {
        var i = 0;
        if (_matched > 0)
        {
            var pattern = Terminator;
            while (i < input.Length && input[i] == pattern[_matched])
            {
                i++;
                if (++_matched == pattern.Length)
                {
                    _matched = 0;
                    return i;
                }
            }

            if (i == input.Length)
            {
                return -1;
            }

            // A mismatch: no terminator can begin inside the bytes matched so far (none of them but
            // the first is a CR), so the search goes on from the mismatching byte.
            _matched = 0;
        }

        var rest = input[i..];
        var at = rest.IndexOf(Terminator);
        if (at >= 0)
        {
            return i + at + Terminator.Length;
        }

        _matched = TrailingMatch(rest);
        return -1;
    }

    /// <summary>How many bytes at the end of <paramref name="piece"/> are a beginning of the terminator.</summary>
    private static int TrailingMatch(ReadOnlySpan<byte> piece)
    {
        for (var k = Math.Min(Terminator.Length - 1, piece.Length); k > 0; k--)
        {
            if (piece[^k..].SequenceEqual(Terminator[..k]))
            {
                return k;
            }
        }

        return 0;
    }
}
