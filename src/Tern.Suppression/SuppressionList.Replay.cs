using System.Globalization;
using System.Text;

namespace Tern.Suppression;

/// <summary>
/// Replay of the journal at <see cref="Open"/>: every line applied in order; a torn last line
/// (a write cut short by a crash) dropped and cut off; anything else malformed refused with the
/// file and line named.
/// </summary>
public sealed partial class SuppressionList
{
    private void Replay()
    {
        long offset = 0;
        var lineNumber = 0;
        var buffer = new byte[64 * 1024];
        var used = 0;
        var fileLength = RandomAccess.GetLength(_journal);
        long read = 0;
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        while (true)
        {
            if (used == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }

            var n = read < fileLength ? RandomAccess.Read(_journal, buffer.AsSpan(used), read) : 0;
            read += n;
            used += n;
            var start = 0;
            while (true)
            {
                var nl = buffer.AsSpan(start, used - start).IndexOf((byte)'\n');
                if (nl < 0)
                {
                    break;
                }

                lineNumber++;
                var bytes = buffer.AsSpan(start, nl);
                if (bytes.EndsWith("\r"u8))
                {
                    bytes = bytes[..^1];
                }

                string line;
                try
                {
                    line = utf8.GetString(bytes);
                }
                catch (DecoderFallbackException)
                {
                    throw Corrupt(lineNumber, "not UTF-8");
                }

                Apply(line, lineNumber);
                start += nl + 1;
                offset += nl + 1;
            }

            if (start > 0)
            {
                buffer.AsSpan(start, used - start).CopyTo(buffer);
                used -= start;
            }

            if (n == 0)
            {
                break;
            }
        }

        if (lineNumber == 0)
        {
            // Not even a complete header. A file cut short while it was being created holds a
            // prefix of the header (nothing else was ever in it): start it again; anything else
            // is not ours.
            var header = Encoding.UTF8.GetBytes(Journal.Header + "\n");
            if (!header.AsSpan().StartsWith(buffer.AsSpan(0, used)))
            {
                throw Corrupt(1, $"not a Tern suppression list (no header line \"{Journal.Escape(Journal.Header)}\")");
            }

            try
            {
                RandomAccess.SetLength(_journal, 0);
                RandomAccess.Write(_journal, header, 0);
                RandomAccess.FlushToDisk(_journal);
            }
            catch (IOException e)
            {
                throw new SuppressionStoreException($"suppression list {FilePath}: cannot write the header: {e.Message}", e);
            }

            DiscardedTornBytes = used;
            _length = header.Length;
            _liveBytes = header.Length;
            return;
        }

        _length = offset;
        if (used > 0)
        {
            // A line without its newline: the write was cut short by a crash, so the change it
            // carried never returned to its caller. Dropped, and cut off so appends start clean.
            DiscardedTornBytes = used;
            TornLine(_log, FilePath, lineNumber + 1, used);
            try
            {
                RandomAccess.SetLength(_journal, _length);
                RandomAccess.FlushToDisk(_journal);
            }
            catch (IOException e)
            {
                throw new SuppressionStoreException($"suppression list {FilePath}: cannot cut the torn line {lineNumber + 1}: {e.Message}", e);
            }
        }

        _version++;
    }

    private void Apply(string line, int lineNumber)
    {
        var fields = line.Split('\t');
        if (lineNumber == 1)
        {
            if (line != Journal.Header)
            {
                throw Corrupt(1, $"not a Tern suppression list (expected the header \"{Journal.Escape(Journal.Header)}\")");
            }

            _liveBytes = Journal.Bytes(line);
            return;
        }

        switch (fields[0])
        {
            case Journal.Add when fields.Length == 5:
            {
                var address = Field(fields[1], lineNumber, "address");
                if (!DateTimeOffset.TryParseExact(fields[2], "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var since))
                {
                    throw Corrupt(lineNumber, $"bad time \"{Journal.Escape(fields[2])}\"");
                }

                if (!Journal.TryParseSource(fields[3], out var source))
                {
                    throw Corrupt(lineNumber, $"unknown source \"{Journal.Escape(fields[3])}\"");
                }

                Suppress(new SuppressionEntry(address, Field(fields[4], lineNumber, "reason"), since, source));
                break;
            }

            case Journal.Remove when fields.Length == 2:
            {
                var address = Field(fields[1], lineNumber, "address");
                Unsuppress(address);
                RemoveCounter(address);
                break;
            }

            case Journal.Count when fields.Length == 3:
            {
                var address = Field(fields[1], lineNumber, "address");
                if (!int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var count))
                {
                    throw Corrupt(lineNumber, $"bad count \"{Journal.Escape(fields[2])}\"");
                }

                SetCounter(address, count);
                break;
            }

            case Journal.Add or Journal.Remove or Journal.Count:
                throw Corrupt(lineNumber, $"{fields[0]}: expected {(fields[0] == Journal.Add ? 5 : fields[0] == Journal.Remove ? 2 : 3)} tab-separated fields, found {fields.Length}");

            default:
                throw Corrupt(lineNumber, $"unknown record \"{Printable(fields[0])}\"");
        }
    }

    private string Field(string text, int lineNumber, string name)
    {
        var value = Journal.Unescape(text, out var error) ?? throw Corrupt(lineNumber, $"{name}: {error}");
        return name == "address" && value.Length == 0 ? throw Corrupt(lineNumber, "empty address") : value;
    }

    private SuppressionStoreException Corrupt(int lineNumber, string problem) =>
        new($"suppression list {FilePath}:{lineNumber}: {problem} (fix or delete that line, or move the file away to start with an empty list)");
}
