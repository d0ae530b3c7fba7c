namespace Tern.Load.Check;

/// <summary>
/// Compares what a sender was told was accepted (its <c>--ids</c> file: the id in the first
/// TAB-separated field) with what the sink received (one id per line). A message acknowledged with a
/// 2xx but never received is lost; one received more than once is duplicated; one received but
/// never acknowledged is unexpected (in flight at a crash, or faulted after it was received), which is
/// not an error. Sink lines of <c>-</c> (no Message-ID) cannot be matched and are only counted.
/// </summary>
internal static class LossCheck
{
    /// <summary>How many ids of each kind the report lists.</summary>
    public const int ListedIds = 20;

    public static CheckResult Run(string sentPath, string receivedPath)
    {
        var acked = new HashSet<string>(StringComparer.Ordinal);
        long sentLines = 0;
        foreach (var id in ReadIds(sentPath))
        {
            sentLines++;
            acked.Add(id);
        }

        var received = new Dictionary<string, int>(StringComparer.Ordinal);
        long receivedLines = 0;
        long withoutId = 0;
        foreach (var id in ReadIds(receivedPath))
        {
            receivedLines++;
            if (id == "-")
            {
                withoutId++;
                continue;
            }

            received[id] = received.TryGetValue(id, out var n) ? n + 1 : 1;
        }

        var lost = new List<string>();
        long lostCount = 0;
        foreach (var id in acked)
        {
            if (!received.ContainsKey(id))
            {
                lostCount++;
                if (lost.Count < ListedIds)
                {
                    lost.Add(id);
                }
            }
        }

        var duplicated = new List<string>();
        long duplicatedIds = 0;
        long extraCopies = 0;
        long unexpected = 0;
        foreach (var (id, count) in received)
        {
            if (count > 1)
            {
                duplicatedIds++;
                extraCopies += count - 1;
                if (duplicated.Count < ListedIds)
                {
                    duplicated.Add(id);
                }
            }

            if (!acked.Contains(id))
            {
                unexpected++;
            }
        }

        lost.Sort(StringComparer.Ordinal);
        duplicated.Sort(StringComparer.Ordinal);
        return new CheckResult
        {
            Sent = acked.Count,
            SentDuplicateLines = sentLines - acked.Count,
            Received = receivedLines,
            ReceivedWithoutId = withoutId,
            Lost = lostCount,
            LostIds = lost,
            DuplicatedIds = duplicatedIds,
            DuplicateCopies = extraCopies,
            Duplicated = duplicated,
            Unexpected = unexpected,
        };
    }

    /// <summary>The first TAB-separated field of each non-empty line, trimmed.</summary>
    private static IEnumerable<string> ReadIds(string path)
    {
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 1 << 16);
        while (reader.ReadLine() is { } line)
        {
            var tab = line.IndexOf('\t');
            var id = (tab < 0 ? line.AsSpan() : line.AsSpan(0, tab)).Trim();
            if (!id.IsEmpty)
            {
                yield return id.Length == line.Length ? line : id.ToString();
            }
        }
    }
}
