namespace Tern.Load.Send;

/// <summary>
/// One connection's copy of every size class, laid out as <c>[reserve][content][".\r\n"]</c>. The
/// Message-ID is patched in place per message; the reserve in front lets the envelope commands
/// (MAIL, RCPT..., "BDAT n LAST") be placed right before the content so that a pipelined BDAT
/// message is one contiguous write (RFC 2920 groups, RFC 3030 chunk data after its command), and
/// the DATA form's content and end-of-data line (RFC 5321 4.1.1.4) are one write too.
/// </summary>
internal sealed class MessageBuffers
{
    private readonly byte[][] _buffers;
    private readonly int[] _idOffsets;
    private readonly int[] _lengths;

    public MessageBuffers(MessageTemplates templates, int reserve)
    {
        Reserve = reserve;
        var count = templates.Contents.Length;
        _buffers = new byte[count][];
        _idOffsets = new int[count];
        _lengths = new int[count];
        for (var i = 0; i < count; i++)
        {
            var content = templates.Contents[i];
            var buffer = new byte[reserve + content.Length + 3];
            content.CopyTo(buffer, reserve);
            ".\r\n"u8.CopyTo(buffer.AsSpan(reserve + content.Length));
            _buffers[i] = buffer;
            _idOffsets[i] = reserve + templates.IdOffsets[i];
            _lengths[i] = content.Length;
        }
    }

    /// <summary>Bytes free in front of each content for the commands of a pipelined BDAT message.</summary>
    public int Reserve { get; }

    /// <summary>The content length of a class (what BDAT declares and the stats count).</summary>
    public int Length(int sizeClass) => _lengths[sizeClass];

    /// <summary>Sets the sequence number of the Message-ID of a class's content.</summary>
    public void Patch(int sizeClass, long seq) =>
        MessageTemplates.PatchId(_buffers[sizeClass].AsSpan(_idOffsets[sizeClass], MessageTemplates.IdSlot), seq);

    /// <summary>The content of a class as it is now (with its current Message-ID).</summary>
    public ReadOnlySpan<byte> Content(int sizeClass) => _buffers[sizeClass].AsSpan(Reserve, _lengths[sizeClass]);

    /// <summary>The content followed by the end-of-data line (the DATA form).</summary>
    public ReadOnlyMemory<byte> DataWithEnd(int sizeClass) => _buffers[sizeClass].AsMemory(Reserve, _lengths[sizeClass] + 3);

    /// <summary>
    /// <paramref name="commands"/> copied right before the content and the whole as one block (the BDAT form).
    /// </summary>
    public ReadOnlyMemory<byte> WithCommands(int sizeClass, ReadOnlySpan<byte> commands)
    {
        var start = Reserve - commands.Length;
        commands.CopyTo(_buffers[sizeClass].AsSpan(start));
        return _buffers[sizeClass].AsMemory(start, commands.Length + _lengths[sizeClass]);
    }
}
