namespace Tern.Spool;

/// <summary>DSN NOTIFY bits as stored (RFC 3461 4.1): the same values as the SMTP layer's.</summary>
[Flags]
public enum StoredNotify : byte
{
    Unspecified = 0,
    Never = 1,
    Success = 2,
    Failure = 4,
    Delay = 8,
}

/// <summary>One stored recipient.</summary>
public sealed record SpoolRecipient(string Address, StoredNotify Notify, string OriginalRecipient);

/// <summary>A stored envelope as read back from the spool.</summary>
public sealed record SpoolEnvelope
{
    public required string Sender { get; init; }

    public required IReadOnlyList<SpoolRecipient> Recipients { get; init; }

    public string EnvelopeId { get; init; } = string.Empty;

    public string? AuthenticatedUser { get; init; }

    public string Client { get; init; } = string.Empty;

    public string Listener { get; init; } = string.Empty;

    public bool SmtpUtf8 { get; init; }

    public bool RequireTls { get; init; }

    public bool EightBit { get; init; }

    public bool Tls { get; init; }

    /// <summary>BODY parameter as the SMTP layer numbered it (0 unspecified, 1 7BIT, 2 8BITMIME, 3 BINARYMIME).</summary>
    public byte BodyType { get; init; }

    /// <summary>RET (0 unspecified, 1 FULL, 2 HDRS).</summary>
    public byte Ret { get; init; }
}

/// <summary>The envelope fields of a message being written, set by the caller before commit.</summary>
public sealed class EnvelopeBuilder
{
    internal const byte FlagSmtpUtf8 = 1;
    internal const byte FlagRequireTls = 2;
    internal const byte FlagEightBit = 4;
    internal const byte FlagTls = 8;

    private readonly List<(int Start, int Length, StoredNotify Notify, int OrcptStart, int OrcptLength)> _recipients = [];
    private byte[] _bytes = new byte[512];
    private int _used;
    private (int Start, int Length) _sender;
    private (int Start, int Length) _envId;
    private (int Start, int Length) _auth;
    private (int Start, int Length) _client;
    private (int Start, int Length) _listener;

    public bool SmtpUtf8 { get; set; }

    public bool RequireTls { get; set; }

    public bool EightBit { get; set; }

    public bool Tls { get; set; }

    public byte BodyType { get; set; }

    public byte Ret { get; set; }

    public int RecipientCount => _recipients.Count;

    /// <summary>At least the envelope's size as the message record and the queue entry store it.</summary>
    internal int EncodedLength => 3 + (5 * 2) + 4 + (_recipients.Count * 5) + _used;

    internal ReadOnlySpan<byte> Sender => Slice(_sender);

    internal ReadOnlySpan<byte> AuthenticatedUser => Slice(_auth);

    internal ReadOnlySpan<byte> Recipient(int i) => _bytes.AsSpan(_recipients[i].Start, _recipients[i].Length);

    public void SetSender(ReadOnlySpan<byte> mailbox) => _sender = Append(mailbox);

    public void SetEnvelopeId(ReadOnlySpan<byte> xtext) => _envId = Append(xtext);

    public void SetAuthenticatedUser(ReadOnlySpan<byte> user) => _auth = Append(user);

    public void SetClient(ReadOnlySpan<byte> client) => _client = Append(client);

    public void SetListener(ReadOnlySpan<byte> listener) => _listener = Append(listener);

    public void AddRecipient(ReadOnlySpan<byte> mailbox, StoredNotify notify, ReadOnlySpan<byte> orcpt)
    {
        var (s, l) = Append(mailbox);
        var (os, ol) = Append(orcpt);
        _recipients.Add((s, l, notify, os, ol));
    }

    /// <summary>Fills the builder from a stored envelope (compaction re-writes a queued message).</summary>
    internal void CopyFrom(SpoolEnvelope e)
    {
        Reset();
        SetSender(System.Text.Encoding.UTF8.GetBytes(e.Sender));
        SetEnvelopeId(System.Text.Encoding.UTF8.GetBytes(e.EnvelopeId));
        SetAuthenticatedUser(System.Text.Encoding.UTF8.GetBytes(e.AuthenticatedUser ?? string.Empty));
        SetClient(System.Text.Encoding.UTF8.GetBytes(e.Client));
        SetListener(System.Text.Encoding.UTF8.GetBytes(e.Listener));
        foreach (var r in e.Recipients)
        {
            AddRecipient(System.Text.Encoding.UTF8.GetBytes(r.Address), r.Notify, System.Text.Encoding.UTF8.GetBytes(r.OriginalRecipient));
        }

        SmtpUtf8 = e.SmtpUtf8;
        RequireTls = e.RequireTls;
        EightBit = e.EightBit;
        Tls = e.Tls;
        BodyType = e.BodyType;
        Ret = e.Ret;
    }

    internal void Reset()
    {
        _recipients.Clear();
        _used = 0;
        _sender = _envId = _auth = _client = _listener = default;
        SmtpUtf8 = RequireTls = EightBit = Tls = false;
        BodyType = Ret = 0;
    }

    internal void WriteTo(ref RecordWriter w)
    {
        WriteFixed(ref w, SmtpUtf8, RequireTls, EightBit, Tls, BodyType, Ret);
        w.Str(Slice(_sender));
        w.Str(Slice(_envId));
        w.Str(Slice(_auth));
        w.Str(Slice(_client));
        w.Str(Slice(_listener));
        w.U32((uint)_recipients.Count);
        foreach (var r in _recipients)
        {
            w.Str(_bytes.AsSpan(r.Start, r.Length));
            w.U8((byte)r.Notify);
            w.Str(_bytes.AsSpan(r.OrcptStart, r.OrcptLength));
        }
    }

    /// <summary>Writes a decoded envelope back in the same layout (queue entries rewritten by operations).</summary>
    internal static void Write(SpoolEnvelope e, ref RecordWriter w)
    {
        WriteFixed(ref w, e.SmtpUtf8, e.RequireTls, e.EightBit, e.Tls, e.BodyType, e.Ret);
        w.Str(e.Sender);
        w.Str(e.EnvelopeId);
        w.Str(e.AuthenticatedUser ?? string.Empty);
        w.Str(e.Client);
        w.Str(e.Listener);
        w.U32((uint)e.Recipients.Count);
        foreach (var r in e.Recipients)
        {
            w.Str(r.Address);
            w.U8((byte)r.Notify);
            w.Str(r.OriginalRecipient);
        }
    }

    /// <summary>Steps over an envelope without decoding it; returns its recipient count.</summary>
    internal static int Skip(ref RecordReader r)
    {
        r.Take(3);
        for (var i = 0; i < 5; i++)
        {
            r.Str();
        }

        var count = (int)r.U32();
        for (var i = 0; i < count; i++)
        {
            r.Str();
            r.U8();
            r.Str();
        }

        return count;
    }

    private static void WriteFixed(ref RecordWriter w, bool smtpUtf8, bool requireTls, bool eightBit, bool tls, byte bodyType, byte ret)
    {
        w.U8((byte)((smtpUtf8 ? FlagSmtpUtf8 : 0) | (requireTls ? FlagRequireTls : 0) | (eightBit ? FlagEightBit : 0) | (tls ? FlagTls : 0)));
        w.U8(bodyType);
        w.U8(ret);
    }

    internal static SpoolEnvelope Read(ref RecordReader r)
    {
        var flags = r.U8();
        var body = r.U8();
        var ret = r.U8();
        var sender = Text(r.Str());
        var envId = Text(r.Str());
        var auth = Text(r.Str());
        var client = Text(r.Str());
        var listener = Text(r.Str());
        var count = r.U32();
        if (count > 1_000_000)
        {
            throw new FormatException("implausible recipient count");
        }

        var recipients = new List<SpoolRecipient>((int)count);
        for (var i = 0; i < count; i++)
        {
            var address = Text(r.Str());
            var notify = (StoredNotify)r.U8();
            var orcpt = Text(r.Str());
            recipients.Add(new SpoolRecipient(address, notify, orcpt));
        }

        return new SpoolEnvelope
        {
            Sender = sender,
            Recipients = recipients,
            EnvelopeId = envId,
            AuthenticatedUser = auth.Length == 0 ? null : auth,
            Client = client,
            Listener = listener,
            SmtpUtf8 = (flags & FlagSmtpUtf8) != 0,
            RequireTls = (flags & FlagRequireTls) != 0,
            EightBit = (flags & FlagEightBit) != 0,
            Tls = (flags & FlagTls) != 0,
            BodyType = body,
            Ret = ret,
        };
    }

    private static string Text(ReadOnlySpan<byte> utf8) => System.Text.Encoding.UTF8.GetString(utf8);

    private ReadOnlySpan<byte> Slice((int Start, int Length) r) => _bytes.AsSpan(r.Start, r.Length);

    private (int Start, int Length) Append(ReadOnlySpan<byte> value)
    {
        if (value.Length > ushort.MaxValue)
        {
            throw new ArgumentException("envelope field longer than 65535 bytes", nameof(value));
        }

        if (_used + value.Length > _bytes.Length)
        {
            Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _used + value.Length));
        }

        var start = _used;
        value.CopyTo(_bytes.AsSpan(start));
        _used += value.Length;
        return (start, value.Length);
    }
}
