using System.Buffers;

namespace Tern.Benchmarks;

/// <summary>A linked segment, to build a multi-segment sequence as a pipe hands it over (a token split across reads).</summary>
internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    private Segment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    /// <summary><paramref name="data"/> as two segments split at <paramref name="at"/>.</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, int at)
    {
        var first = new Segment(data.AsMemory(0, at), 0);
        var second = new Segment(data.AsMemory(at), at);
        first.Next = second;
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }
}
