using System.Net;
using Tern.Smtp.Protocol;

namespace Tern.Smtp.Server;

/// <summary>One recipient of the transaction: offsets into the envelope's buffer plus DSN parameters.</summary>
public readonly record struct EnvelopeRecipient(int Start, int Length, DsnNotify Notify, int OrcptStart, int OrcptLength);

/// <summary>
/// The envelope of the transaction in progress (RFC 5321 3.3): reverse path, forward paths and their
/// ESMTP parameters, plus facts about the client. One instance per session, reused across
/// transactions: addresses live in one growable byte buffer so that a steady stream of messages does
/// not allocate.
/// </summary>
public sealed class SmtpEnvelope
{
    private readonly List<EnvelopeRecipient> _recipients = new(8);
    private byte[] _bytes = new byte[1024];
    private int _used;
    private int _senderStart;
    private int _senderLength;
    private int _envIdStart;
    private int _envIdLength;

    /// <summary>The client's address.</summary>
    public IPEndPoint? Client { get; internal set; }

    /// <summary>Name of the listener that accepted the connection.</summary>
    public string Listener { get; internal set; } = string.Empty;

    /// <summary>The authenticated account, or null.</summary>
    public string? AuthenticatedUser { get; internal set; }

    public bool Tls { get; internal set; }

    public bool IsNullSender => _senderLength == 0;

    public ReadOnlySpan<byte> Sender => _bytes.AsSpan(_senderStart, _senderLength);

    public int RecipientCount => _recipients.Count;

    public EnvelopeRecipient RecipientAt(int index) => _recipients[index];

    public ReadOnlySpan<byte> Recipient(int index)
    {
        var r = _recipients[index];
        return _bytes.AsSpan(r.Start, r.Length);
    }

    public ReadOnlySpan<byte> OriginalRecipient(int index)
    {
        var r = _recipients[index];
        return _bytes.AsSpan(r.OrcptStart, r.OrcptLength);
    }

    public long DeclaredSize { get; internal set; } = -1;

    public BodyType Body { get; internal set; }

    public bool SmtpUtf8 { get; internal set; }

    /// <summary>REQUIRETLS given on MAIL (RFC 8689).</summary>
    public bool RequireTls { get; internal set; }

    public DsnReturn Ret { get; internal set; }

    /// <summary>ENVID as sent (xtext).</summary>
    public ReadOnlySpan<byte> EnvelopeId => _bytes.AsSpan(_envIdStart, _envIdLength);

    /// <summary>Set once data arrived: whether any byte had the high bit set.</summary>
    public bool EightBitData { get; internal set; }

    internal void SetSender(ReadOnlySpan<byte> mailbox, in MailFromArguments args, ReadOnlySpan<byte> envId)
    {
        Reset();
        (_senderStart, _senderLength) = Append(mailbox);
        (_envIdStart, _envIdLength) = Append(envId);
        DeclaredSize = args.Size;
        Body = args.Body;
        SmtpUtf8 = args.SmtpUtf8;
        RequireTls = args.RequireTls;
        Ret = args.Ret;
    }

    internal void AddRecipient(ReadOnlySpan<byte> mailbox, DsnNotify notify, ReadOnlySpan<byte> orcpt)
    {
        var (start, length) = Append(mailbox);
        var (os, ol) = Append(orcpt);
        _recipients.Add(new EnvelopeRecipient(start, length, notify, os, ol));
    }

    /// <summary>Forgets the transaction (RSET, end of DATA, new MAIL); client facts stay.</summary>
    internal void Reset()
    {
        _used = 0;
        _senderStart = _senderLength = _envIdStart = _envIdLength = 0;
        _recipients.Clear();
        DeclaredSize = -1;
        Body = BodyType.Unspecified;
        SmtpUtf8 = false;
        RequireTls = false;
        Ret = DsnReturn.Unspecified;
        EightBitData = false;
    }

    private (int Start, int Length) Append(ReadOnlySpan<byte> value)
    {
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
