namespace Tern.Spool;

/// <summary>Where and how the spool keeps its log. Built by the host from the configuration.</summary>
public sealed record SpoolOptions
{
    /// <summary>The spool's directory (log segments and commit metadata).</summary>
    public required string Directory { get; init; }

    /// <summary>FasterLog page size (bits): the largest record must fit in a page.</summary>
    public int PageSizeBits { get; init; } = 22;

    /// <summary>In-memory part of the log (bits): appends wait when it is full of unflushed pages.</summary>
    public int MemorySizeBits { get; init; } = 26;

    /// <summary>Size of one log segment file (bits).</summary>
    public int SegmentSizeBits { get; init; } = 30;

    /// <summary>Bodies up to this size travel inside their message record; larger ones are split into chunks of this size.</summary>
    public int ChunkSize { get; init; } = 256 * 1024;

    /// <summary>Body bytes of a record beyond this size are zstd-compressed.</summary>
    public int CompressAbove { get; init; } = 32 * 1024;

    /// <summary>zstd level (1 is fastest; mail compresses well even there).</summary>
    public int CompressionLevel { get; init; } = 1;
}

/// <summary>The index entry of a message in the spool.</summary>
public sealed record SpooledMessage(MessageId Id, long Address, DateTimeOffset Received, long BodyLength, int Recipients);

/// <summary>A message read back: envelope and body.</summary>
public sealed record StoredMessage(SpooledMessage Entry, SpoolEnvelope Envelope, byte[] Body);

/// <summary>The spool cannot be opened or read; the message names the directory and the problem.</summary>
public sealed class SpoolException : Exception
{
    public SpoolException()
    {
    }

    public SpoolException(string message)
        : base(message)
    {
    }

    public SpoolException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
