using System.Globalization;
using System.Runtime.InteropServices;

namespace Tern.Load.Check;

/// <summary>
/// Compares what a sender was told was accepted (its <c>--ids</c> file: the id in the first
/// TAB-separated field, the body digest in the third when there is one) with what the sink received
/// (the id, and the digest in the second field when there is one). A message acknowledged with a 2xx
/// but never received is lost; one received with a digest other than the one sent is corrupted; one
/// received more than once is duplicated; one received but never acknowledged is unexpected (in
/// flight at a crash, or faulted after it was received), which is not an error. Sink lines of
/// <c>-</c> (no Message-ID) cannot be matched and are only counted. Files written before the digest
/// column existed have none, and their messages are only checked for loss.
/// </summary>
internal static class LossCheck
{
    /// <summary>How many ids of each kind the report lists.</summary>
    public const int ListedIds = 20;

    /// <summary>The TAB field that holds the digest in the sender's file (id, reply, digest).</summary>
    private const int SentDigestField = 2;

    /// <summary>The TAB field that holds the digest in the sink's file (id, digest).</summary>
    private const int ReceivedDigestField = 1;

    public static CheckResult Run(string sentPath, string receivedPath)
    {
        var acked = new Dictionary<string, ulong?>(StringComparer.Ordinal);
        long sentLines = 0;
        foreach (var (id, digest) in ReadIds(sentPath, SentDigestField))
        {
            sentLines++;
            acked.TryAdd(id, digest);
        }

        var received = new Dictionary<string, Copies>(StringComparer.Ordinal);
        long receivedLines = 0;
        long withoutId = 0;
        foreach (var (id, digest) in ReadIds(receivedPath, ReceivedDigestField))
        {
            receivedLines++;
            if (id == "-")
            {
                withoutId++;
                continue;
            }

            ref var copies = ref CollectionsMarshal.GetValueRefOrAddDefault(received, id, out _);
            copies.Count++;
            copies.Mismatch |= digest is { } d && copies.Digest is { } first && d != first;
            copies.Digest ??= digest;
        }

        var lost = new List<string>();
        var corrupted = new List<string>();
        long lostCount = 0;
        long corruptedCount = 0;
        foreach (var (id, digest) in acked)
        {
            if (!received.TryGetValue(id, out var copies))
            {
                lostCount++;
                Add(lost, id);
            }
            else if (copies.Mismatch || (digest is { } sent && copies.Digest is { } got && sent != got))
            {
                // Some copy differs from what was sent (copies that differ from each other: one of them does).
                corruptedCount++;
                Add(corrupted, id);
            }
        }

        var duplicated = new List<string>();
        long duplicatedIds = 0;
        long extraCopies = 0;
        long unexpected = 0;
        foreach (var (id, copies) in received)
        {
            if (copies.Count > 1)
            {
                duplicatedIds++;
                extraCopies += copies.Count - 1;
                Add(duplicated, id);
            }

            if (!acked.ContainsKey(id))
            {
                unexpected++;
            }
        }

        lost.Sort(StringComparer.Ordinal);
        corrupted.Sort(StringComparer.Ordinal);
        duplicated.Sort(StringComparer.Ordinal);
        return new CheckResult
        {
            Sent = acked.Count,
            SentDuplicateLines = sentLines - acked.Count,
            Received = receivedLines,
            ReceivedWithoutId = withoutId,
            Lost = lostCount,
            LostIds = lost,
            Corrupted = corruptedCount,
            CorruptedIds = corrupted,
            DigestsChecked = acked.Values.Count(d => d is not null),
            DuplicatedIds = duplicatedIds,
            DuplicateCopies = extraCopies,
            Duplicated = duplicated,
            Unexpected = unexpected,
        };

        static void Add(List<string> list, string id)
        {
            if (list.Count < ListedIds)
            {
                list.Add(id);
            }
        }
    }

    /// <summary>
    /// The first TAB-separated field of each non-empty line, trimmed, and the digest in field
    /// <paramref name="digestField"/> when that field is 16 hex digits (null otherwise).
    /// </summary>
    private static IEnumerable<(string Id, ulong? Digest)> ReadIds(string path, int digestField)
    {
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 1 << 16);
        while (reader.ReadLine() is { } line)
        {
            var tab = line.IndexOf('\t');
            var id = (tab < 0 ? line.AsSpan() : line.AsSpan(0, tab)).Trim();
            if (!id.IsEmpty)
            {
                yield return (id.Length == line.Length ? line : id.ToString(), Digest(line, digestField));
            }
        }
    }

    private static ulong? Digest(string line, int field)
    {
        var rest = line.AsSpan();
        for (var i = 0; i < field; i++)
        {
            var tab = rest.IndexOf('\t');
            if (tab < 0)
            {
                return null;
            }

            rest = rest[(tab + 1)..];
        }

        var end = rest.IndexOf('\t');
        var text = (end < 0 ? rest : rest[..end]).Trim();
        return text.Length == 16 && ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    /// <summary>The copies of one id the sink received.</summary>
    private struct Copies
    {
        public int Count;
        public ulong? Digest;
        public bool Mismatch;
    }
}
