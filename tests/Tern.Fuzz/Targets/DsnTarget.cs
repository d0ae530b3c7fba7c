using System.Net;
using System.Text;
using Tern.Dsn;
using Tern.Fuzz.Support;

namespace Tern.Fuzz.Targets;

/// <summary>
/// Delivery status notifications (RFC 3464) built from what clients and remote servers sent: the
/// input is NUL-separated fields ENVID, ORCPT (RFC 3461 xtext, "addr-type;xtext"), the remote
/// server's reply text (Diagnostic-Code), the recipient and sender addresses, and the original
/// message (returned in full or as headers), through <see cref="DsnBuilder.Build(DsnRequest, out DsnTraits)"/>
/// as Tern.Spool's notices call it. ENVID and ORCPT are only used when the server's MAIL/RCPT
/// parser would have accepted them as xtext. Nothing may throw.
/// </summary>
internal static class DsnTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        var flags = input.IsEmpty ? 0 : input[0];
        var fields = new List<byte[]>();
        var rest = input.IsEmpty ? input : input[1..];
        for (var i = 0; i < 5; i++)
        {
            var nul = rest.IndexOf((byte)0);
            if (nul < 0)
            {
                break;
            }

            fields.Add(rest[..nul].ToArray());
            rest = rest[(nul + 1)..];
        }

        while (fields.Count < 5)
        {
            fields.Add([]);
        }

        var envId = fields[0].Length <= 100 && Smtp.Protocol.Xtext.IsValid(fields[0]) ? Encoding.UTF8.GetString(fields[0]) : string.Empty;
        var orcpt = OrcptAccepted(fields[1]) ? Encoding.UTF8.GetString(fields[1]) : string.Empty;
        var kind = (DsnKind)(flags % 3);
        var request = new DsnRequest
        {
            ReportingMta = "mx.example.com",
            QueueId = "0123456789ABCDEF",
            Sender = fields[4].Length > 0 ? Encoding.UTF8.GetString(fields[4]) : "sender@example.com",
            EnvelopeId = envId,
            Ret = (DsnRet)((flags >> 2) % 3),
            ArrivalDate = DateTimeOffset.UnixEpoch,
            SmtpUtf8 = (flags & 0x20) != 0,
            Kind = kind,
            Recipients =
            [
                new DsnRecipient
                {
                    FinalRecipient = fields[3].Length > 0 ? Encoding.UTF8.GetString(fields[3]) : "rcpt@example.net",
                    OriginalRecipient = orcpt,
                    Action = kind switch { DsnKind.Failure => DsnAction.Failed, DsnKind.Delay => DsnAction.Delayed, _ => DsnAction.Delivered },
                    Status = kind switch { DsnKind.Failure => "5.0.0", DsnKind.Delay => "4.0.0", _ => "2.0.0" },
                    RemoteMtaName = "mx.example.net",
                    RemoteMtaAddress = IPAddress.Loopback,
                    DiagnosticCode = Encoding.UTF8.GetString(fields[2]),
                    LastAttemptDate = DateTimeOffset.UnixEpoch,
                },
            ],
            OriginalMessage = rest.ToArray(),
            Date = DateTimeOffset.UnixEpoch,
        };

        var bytes = DsnBuilder.Build(request, out _);
        FuzzInvariantException.Check(bytes.Length > 0, "empty notice");
    }

    /// <summary>What MailParameters accepts as ORCPT: "addr-type;xtext", at most 500 octets (RFC 3461 4.2).</summary>
    private static bool OrcptAccepted(byte[] value)
    {
        var semi = Array.IndexOf(value, (byte)';');
        return semi > 0 && semi < value.Length - 1 && value.Length <= 500 && Smtp.Protocol.Xtext.IsValid(value.AsSpan(semi + 1));
    }
}
