using System.Buffers;

namespace Tern.Fuzz.Support;

/// <summary>
/// Presents fuzz input the way a socket delivers it: in chunks whose sizes are derived from the input
/// itself (so a crash reproduces from the file alone), each read seeing what the previous ones left
/// unconsumed plus the new chunk, as a multi-segment <see cref="ReadOnlySequence{T}"/> split at every
/// chunk boundary (the pipe's segments). Parsers that keep state across reads must give the same
/// result whatever the split.
/// </summary>
internal static class Chunks
{
    /// <summary>One read: the unconsumed buffer and whether the peer has finished sending; returns where the parser stopped.</summary>
    public delegate SequencePosition Reader(ReadOnlySequence<byte> buffer, bool final);

    public static void Feed(byte[] data, Reader read)
    {
        var bounds = SplitPoints(data);
        long consumed = 0;
        for (var k = 0; k < bounds.Count; k++)
        {
            var end = bounds[k];
            if (consumed >= end && k < bounds.Count - 1)
            {
                continue;
            }

            var buffer = Build(data, consumed, end, bounds);
            var position = read(buffer, k == bounds.Count - 1);
            var advanced = buffer.Slice(0, position).Length;
            if (advanced < 0 || consumed + advanced > end)
            {
                throw new FuzzInvariantException($"parser consumed past the buffer ({consumed}+{advanced} > {end})");
            }

            consumed += advanced;
        }
    }

    /// <summary>Chunk ends (exclusive), the last one the input's end. Sizes 1 to 4 KiB from an xorshift seeded with the input's hash.</summary>
    public static List<int> SplitPoints(ReadOnlySpan<byte> data)
    {
        var bounds = new List<int>();
        var state = Hash(data) | 1;
        var at = 0;
        // Style: one byte at a time, small, mixed, or in one piece; picked by the hash too.
        var style = (int)(state % 4);
        while (at < data.Length)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            var size = style switch
            {
                0 => 1,
                1 => 1 + (int)(state % 16),
                2 => 1 + (int)(state % 700),
                _ => data.Length,
            };
            at = Math.Min(data.Length, at + size);
            bounds.Add(at);
        }

        if (bounds.Count == 0)
        {
            bounds.Add(0);
        }

        return bounds;
    }

    private static ulong Hash(ReadOnlySpan<byte> data)
    {
        var h = 14695981039346656037UL;
        foreach (var b in data)
        {
            h = (h ^ b) * 1099511628211UL;
        }

        return h;
    }

    private static ReadOnlySequence<byte> Build(byte[] data, long from, int to, List<int> bounds)
    {
        Segment? first = null;
        Segment? last = null;
        var start = (int)from;
        foreach (var b in bounds)
        {
            if (b <= start)
            {
                continue;
            }

            var end = Math.Min(b, to);
            if (end <= start)
            {
                break;
            }

            var memory = new ReadOnlyMemory<byte>(data, start, end - start);
            if (first is null)
            {
                first = last = new Segment(memory, 0);
            }
            else
            {
                last = last!.Append(memory);
            }

            start = end;
            if (end == to)
            {
                break;
            }
        }

        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
