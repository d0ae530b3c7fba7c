using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Dsn;

public static partial class DsnBuilder
{
    /// <summary>
    /// Writes the message/delivery-status body (RFC 3464 2.1): the per-message fields, then for each
    /// recipient an empty line and its per-recipient fields, in the order of RFC 3464 2.2 and 2.3.
    /// Returns true when it is message/global-delivery-status (RFC 6533 6.2): SMTPUTF8 was used and an
    /// address or a reply needs non-ASCII characters.
    /// </summary>
    internal static bool WriteDeliveryStatus(DsnRequest request, IBufferWriter<byte> w)
    {
        var global = request.SmtpUtf8 && NeedsUtf8(request);

        // RFC 3464 2.2.1, RFC 3461 6.3 (a): ENVID with its xtext decoded.
        if (!string.IsNullOrEmpty(request.EnvelopeId))
        {
            Field(w, "Original-Envelope-Id", EnvelopeIdValue(request.EnvelopeId));
        }

        // RFC 3464 2.2.2: the MTA that issues the DSN.
        Field(w, "Reporting-MTA", "dns; " + request.ReportingMta);

        // RFC 3464 2.2.5.
        Field(w, "Arrival-Date", Tern.Shared.MailDate.Format(request.ArrivalDate));

        foreach (var r in request.Recipients)
        {
            w.Crlf();

            // RFC 3464 2.3.1, RFC 3461 6.3 (d): only when ORCPT was given.
            if (!string.IsNullOrEmpty(r.OriginalRecipient))
            {
                Field(w, "Original-Recipient", OriginalRecipientValue(r.OriginalRecipient, global));
            }

            // RFC 3464 2.3.2, RFC 6533 3: "rfc822" for ASCII addresses, "utf-8" otherwise.
            Field(w, "Final-Recipient", FinalRecipientValue(r.FinalRecipient, global));
            Field(w, "Action", ActionName(r.Action));
            Field(w, "Status", StatusCode(r));

            // RFC 3464 2.3.5: only when a remote MTA was involved; the IP address as a comment.
            if (RemoteMtaValue(r) is { } remote)
            {
                Field(w, "Remote-MTA", remote);
            }

            WriteDiagnosticCode(w, r, global);

            // RFC 3464 2.3.7.
            if (r.LastAttemptDate is { } last)
            {
                Field(w, "Last-Attempt-Date", Tern.Shared.MailDate.Format(last));
            }

            // RFC 3464 2.3.9: for "delayed" only; it MUST NOT appear in other DSNs.
            if (r.Action == DsnAction.Delayed && r.WillRetryUntil is { } until)
            {
                Field(w, "Will-Retry-Until", Tern.Shared.MailDate.Format(until));
            }
        }

        return global;
    }

    /// <summary>The action-value (RFC 3464 2.3.3).</summary>
    internal static string ActionName(DsnAction action) => action switch
    {
        DsnAction.Failed => "failed",
        DsnAction.Delayed => "delayed",
        DsnAction.Delivered => "delivered",
        DsnAction.Relayed => "relayed",
        DsnAction.Expanded => "expanded",
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };

    /// <summary>The status-code (RFC 3464 2.3.4): DIGIT "." 1*3DIGIT "." 1*3DIGIT, else one made up from the action.</summary>
    internal static string StatusCode(DsnRecipient r)
    {
        var s = r.Status.AsSpan().Trim();
        var parts = 0;
        var digits = 0;
        var valid = s.Length > 0;
        foreach (var c in s)
        {
            if (char.IsAsciiDigit(c))
            {
                digits++;
                valid &= parts == 0 ? digits == 1 && c is '2' or '4' or '5' : digits <= 3;
            }
            else if (c == '.' && digits > 0)
            {
                parts++;
                digits = 0;
            }
            else
            {
                valid = false;
            }
        }

        if (valid && parts == 2 && digits > 0)
        {
            return s.ToString();
        }

        return r.Action switch
        {
            DsnAction.Failed => "5.0.0",
            DsnAction.Delayed => "4.0.0",
            _ => "2.0.0",
        };
    }

    private static bool NeedsUtf8(DsnRequest request)
    {
        foreach (var r in request.Recipients)
        {
            if (Xtext.HasNonAscii(r.FinalRecipient) || Xtext.HasNonAscii(r.DiagnosticCode)
                || (Xtext.Decode(r.OriginalRecipient) is { } orcpt && Xtext.HasNonAscii(orcpt)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>ENVID decoded when it decodes to printable ASCII (RFC 3464 2.2.1: *text), else kept in xtext.</summary>
    internal static string EnvelopeIdValue(string envId)
    {
        var decoded = Xtext.Decode(envId);
        if (decoded is not null && Xtext.IsPrintableAscii(decoded))
        {
            return decoded;
        }

        return Xtext.IsPrintableAscii(envId) ? envId : Xtext.Encode(Xtext.Decode(envId) ?? envId);
    }

    /// <summary>
    /// "addr-type;address" from ORCPT with the xtext decoded (RFC 3461 4.2, 6.3 (d)). A utf-8
    /// address (RFC 6533 3) is kept as given (utf-8-addr-xtext or -unitext), its non-ASCII characters
    /// turned into "\x{HEX}" for message/delivery-status; anything else that would not be printable
    /// text there keeps its xtext form.
    /// </summary>
    internal static string OriginalRecipientValue(string orcpt, bool global)
    {
        var semi = orcpt.IndexOf(';', StringComparison.Ordinal);
        var type = semi > 0 ? orcpt[..semi].Trim() : string.Empty;
        var raw = semi > 0 ? orcpt[(semi + 1)..] : orcpt;
        if (type.Length == 0 || !IsAtom(type))
        {
            // RFC 3464 2.3.1: "unknown" when the type cannot be determined.
            type = "unknown";
            raw = orcpt;
        }

        var decoded = Xtext.Decode(raw);
        string value;
        if (type.Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            var text = decoded ?? raw;
            value = global ? Xtext.EscapeControls(text) : Xtext.EscapeNonAscii(text);
        }
        else if (decoded is not null && (Xtext.IsPrintableAscii(decoded) || (global && Xtext.EscapeControls(decoded) == decoded)))
        {
            value = decoded;
        }
        else
        {
            value = Xtext.Encode(decoded ?? raw);
        }

        return type + ";" + value;
    }

    /// <summary>"rfc822; addr" for an ASCII address, "utf-8; addr" otherwise (RFC 6533 3).</summary>
    internal static string FinalRecipientValue(string address, bool global)
    {
        if (Xtext.IsPrintableAscii(address))
        {
            return "rfc822; " + address;
        }

        // utf-8-address (raw) in message/global-delivery-status, utf-8-addr-xtext in the 7-bit form.
        return "utf-8; " + (global ? Xtext.EscapeControls(address) : Xtext.EncodeUtf8AddrXtext(address));
    }

    /// <summary>"dns; NAME (IP)", or "dns; [IP]" when only the address is known (RFC 3464 2.3.5).</summary>
    internal static string? RemoteMtaValue(DsnRecipient r)
    {
        var name = r.RemoteMtaName is { Length: > 0 } n ? HostText(n) : null;
        var ip = r.RemoteMtaAddress;
        if (name is null && ip is null)
        {
            return null;
        }

        if (name is null)
        {
            return "dns; " + AddressLiteral(ip!);
        }

        return ip is null ? "dns; " + name : $"dns; {name} ({ip})";
    }

    /// <summary>An SMTP address literal (RFC 5321 4.1.3).</summary>
    internal static string AddressLiteral(IPAddress ip) =>
        ip.AddressFamily == AddressFamily.InterNetworkV6 && !ip.IsIPv4MappedToIPv6 ? $"[IPv6:{ip}]" : $"[{(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip)}]";

    private static string HostText(string name)
    {
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (chars[i] is <= ' ' or > '~' or '(' or ')' or '\\')
            {
                chars[i] = '?';
            }
        }

        return new string(chars);
    }

    /// <summary>
    /// Diagnostic-Code (RFC 3464 2.3.6) with every line of the reply: each reply line after the first
    /// goes on a folded continuation line (CRLF SP), so unfolding joins them with one space and a
    /// reader of the raw DSN still sees the reply's lines. A reply line is folded only when it would
    /// not fit in 998 octets (see <see cref="MimeEncoding.WriteFolded"/>).
    /// </summary>
    private static void WriteDiagnosticCode(IBufferWriter<byte> w, DsnRecipient r, bool global)
    {
        var type = IsAtom(r.DiagnosticType) ? r.DiagnosticType : "smtp";
        var first = true;
        foreach (var line in ReplyLines(r.DiagnosticCode))
        {
            if (line.AsSpan().Trim(" \t").IsEmpty)
            {
                continue;
            }

            var bytes = Encoding.UTF8.GetBytes(MachineText(line, global));
            if (first)
            {
                var prefix = $"Diagnostic-Code: {type}; ";
                w.WriteText(prefix);
                w.WriteFolded(bytes, prefix.Length, MimeEncoding.MaxLineLength);
                first = false;
            }
            else
            {
                w.Write("\r\n "u8);
                w.WriteFolded(bytes, 1, MimeEncoding.MaxLineLength);
            }
        }

        if (!first)
        {
            w.Crlf();
        }
    }

    /// <summary>The lines of a reply: split at CRLF (or LF), trailing empty lines dropped.</summary>
    internal static List<string> ReplyLines(string reply)
    {
        var lines = new List<string>();
        foreach (var part in reply.Split('\n'))
        {
            lines.Add(part.EndsWith('\r') ? part[..^1] : part);
        }

        while (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        return lines;
    }

    /// <summary>Reply text for a DSN field: control characters (and non-ASCII in the 7-bit form) become '?'.</summary>
    private static string MachineText(string line, bool global)
    {
        var chars = line.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            var c = chars[i];
            if ((c < ' ' && c != '\t') || c == '\x7F' || (!global && c > '~'))
            {
                chars[i] = '?';
            }
        }

        var text = new string(chars);
        if (!global)
        {
            return text;
        }

        // Lone surrogates would not survive UTF-8.
        return Xtext.EscapeControls(text);
    }

    private static bool IsAtom(string value)
    {
        if (value.Length == 0)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_' and not '.')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Writes "Name: value" CRLF, folded.</summary>
    private static void Field(IBufferWriter<byte> w, string name, string value)
    {
        w.WriteText(name);
        w.Write(": "u8);
        w.WriteFolded(Encoding.UTF8.GetBytes(Sanitize(value)), name.Length + 2);
        w.Crlf();
    }
}
