using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Tern.Load.Send;

/// <summary>
/// The message contents of a run, built once per size class: RFC 5322 headers (From, To, Subject,
/// Date, Message-ID) and filler lines of 76 characters. Every message of a class has the same bytes
/// except the sequence number in its Message-ID, which a connection patches in place in its own
/// copy (<see cref="MessageBuffers"/>), so sending allocates nothing per message. No filler line
/// starts with '.', so the DATA form needs no dot-stuffing (RFC 5321 4.5.2) and the same bytes
/// serve BDAT (RFC 3030), which sends content as is.
/// </summary>
internal sealed class MessageTemplates
{
    /// <summary>The domain of every Message-ID, as the shared id convention says.</summary>
    public const string IdDomain = "tern-load.test";

    /// <summary>
    /// Room for the sequence number and the rest of the id: 20 digits (any long) plus "@tern-load.test>".
    /// Shorter numbers leave trailing spaces, which RFC 5322 3.6.4 allows after a msg-id (CFWS).
    /// </summary>
    public const int IdSlot = 20 + 1 + 14 + 1;

    private const int LineLength = 76;
    private const string Filler = "The quick brown fox jumps over the lazy dog while tern-load counts every message ";

    public MessageTemplates(IReadOnlyList<int> sizes, string from, string runId)
    {
        RunId = runId;
        RunIdBytes = Encoding.ASCII.GetBytes(runId);
        var date = DateTimeOffset.UtcNow.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture);
        Contents = new byte[sizes.Count][];
        IdOffsets = new int[sizes.Count];
        for (var i = 0; i < sizes.Count; i++)
        {
            (Contents[i], IdOffsets[i]) = Build(sizes[i], from, date, runId);
        }
    }

    /// <summary>12 lowercase hex characters, random per run.</summary>
    public string RunId { get; }

    public byte[] RunIdBytes { get; }

    /// <summary>The content of each size class (headers, blank line, filler; ends with CRLF).</summary>
    public byte[][] Contents { get; }

    /// <summary>Where the sequence-number slot of each class's Message-ID starts in its content.</summary>
    public int[] IdOffsets { get; }

    public static string NewRunId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>Writes "SEQ@tern-load.test>" and pad spaces into a Message-ID slot.</summary>
    public static void PatchId(Span<byte> slot, long seq)
    {
        seq.TryFormat(slot, out var n, default, CultureInfo.InvariantCulture);
        slot[n++] = (byte)'@';
        "tern-load.test>"u8.CopyTo(slot[n..]);
        n += 15;
        slot[n..IdSlot].Fill((byte)' ');
    }

    /// <summary>The id as the --ids files carry it: RUNID.SEQ@tern-load.test.</summary>
    public string Id(long seq) => $"{RunId}.{seq.ToString(CultureInfo.InvariantCulture)}@{IdDomain}";

    private static (byte[] Content, int IdOffset) Build(int size, string from, string date, string runId)
    {
        var head = new StringBuilder()
            .Append("From: <").Append(from).Append(">\r\n")
            .Append("To: undisclosed-recipients:;\r\n")
            .Append("Subject: tern-load ").Append(size.ToString(CultureInfo.InvariantCulture)).Append(" bytes\r\n")
            .Append("Date: ").Append(date).Append("\r\n")
            .Append("Message-ID: <").Append(runId).Append('.');
        var idOffset = head.Length;
        head.Append(' ', IdSlot).Append("\r\n")
            .Append("MIME-Version: 1.0\r\n")
            .Append("Content-Type: text/plain; charset=us-ascii\r\n")
            .Append("\r\n");

        // Filler lines up to the size asked (at least one line: a message has a body).
        var remaining = Math.Max(size - head.Length, 3);
        var line = 0;
        while (remaining > 0)
        {
            var length = Math.Min(LineLength, remaining - 2);
            if (remaining - (length + 2) is > 0 and < 3)
            {
                // Leave at least three bytes (one character and CRLF) for the last line.
                length -= 3;
            }

            var start = line * 7 % Filler.Length;
            for (var i = 0; i < length; i++)
            {
                head.Append(Filler[(start + i) % Filler.Length]);
            }

            head.Append("\r\n");
            remaining -= length + 2;
            line++;
        }

        var content = Encoding.ASCII.GetBytes(head.ToString());
        PatchId(content.AsSpan(idOffset, IdSlot), 0);
        return (content, idOffset);
    }
}
