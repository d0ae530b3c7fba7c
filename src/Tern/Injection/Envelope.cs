using System.Net;
using System.Text;
using Tern.Smtp.Protocol;
using Tern.Spool;

namespace Tern.Injection;

/// <summary>The envelope members of an injection request, checked by the SMTP server's own grammar.</summary>
internal static class Envelope
{
    /// <summary>The most an encoded ENVID may be (RFC 3461 4.4).</summary>
    private const int MaxEnvelopeIdLength = 100;

    /// <summary>Checks the DSN and REQUIRETLS members; null when they are fine.</summary>
    public static Refusal? Parse(InjectionRequest r, IPEndPoint client)
    {
        if (r.Notify is { } notify)
        {
            if (notify.Length == 0)
            {
                return new Refusal(400, "invalid_request", "notify needs \"never\" or any of \"success\", \"failure\", \"delay\"");
            }

            foreach (var n in notify)
            {
                if (n is not ("never" or "success" or "failure" or "delay"))
                {
                    return new Refusal(400, "invalid_request", $"notify: unknown value \"{n}\"; expected \"never\" or any of \"success\", \"failure\", \"delay\"");
                }
            }

            // RFC 3461 4.1: NEVER excludes the others.
            if (notify.Contains("never") && notify.Length > 1)
            {
                return new Refusal(400, "invalid_request", "notify: \"never\" cannot be combined with other values (RFC 3461 4.1)");
            }
        }

        if (r.Ret is not (null or "full" or "headers"))
        {
            return new Refusal(400, "invalid_request", $"ret: expected \"full\" or \"headers\", got \"{r.Ret}\"");
        }

        if (r.Envid is { } envid)
        {
            if (envid.Length == 0 || envid.AsSpan().IndexOfAnyExceptInRange((char)32, (char)126) >= 0)
            {
                return new Refusal(400, "invalid_request", "envid must be printable ASCII (RFC 3461 4.4)");
            }

            if (EnvelopeIdXtext(envid).Length > MaxEnvelopeIdLength)
            {
                return new Refusal(400, "invalid_request", $"envid is longer than {MaxEnvelopeIdLength} characters once encoded as xtext (RFC 3461 4.4)");
            }
        }

        // As on submission (RFC 8689 2: REQUIRETLS only over TLS): the HTTP listener has no TLS, so a
        // REQUIRETLS message may only come over loopback, where it never crossed a network.
        if (r.Requiretls && !IPAddress.IsLoopback(client.Address))
        {
            return new Refusal(422, "requiretls_needs_tls", "requiretls is accepted only from a loopback client: the HTTP listener has no TLS");
        }

        return null;
    }

    /// <summary>
    /// Parses an address as MAIL FROM (<paramref name="isSender"/>: "" is the null sender) or RCPT TO
    /// parses it, UTF-8 allowed (SMTPUTF8 is then set on the message); source routes are dropped.
    /// <paramref name="mailbox"/> is <c>local@domain</c> as stored.
    /// </summary>
    public static bool TryParseAddress(string text, bool isSender, out byte[] mailbox, out bool nonAscii, out string why)
    {
        mailbox = [];
        nonAscii = false;
        why = string.Empty;
        if (text.AsSpan().IndexOfAny('<', '>') >= 0 || text.AsSpan().IndexOfAnyInRange('\0', ' ') >= 0)
        {
            why = "an address is local@domain, without angle brackets, spaces or control characters";
            return false;
        }

        var bytes = Encoding.UTF8.GetBytes("<" + text + ">");
        var error = SmtpPathParser.TryParse(bytes, 0, allowNull: isSender, allowPostmaster: !isSender, allowUtf8: true, out var path, out var consumed);
        if (error == PathError.None && consumed != bytes.Length)
        {
            error = PathError.Syntax;
        }

        switch (error)
        {
            case PathError.None:
                mailbox = path.Mailbox(bytes).ToArray();
                nonAscii = path.HasNonAscii;
                return true;
            case PathError.TooLong:
                why = $"longer than {SmtpPathParser.MaxPathLength} bytes, or a local part over {SmtpPathParser.MaxLocalPartLength} (RFC 5321 4.5.3.1)";
                return false;
            default:
                why = "not an address (RFC 5321 4.1.2: local@domain)";
                return false;
        }
    }

    /// <summary>The NOTIFY bits of a checked <c>notify</c> list.</summary>
    public static StoredNotify Notify(string[] notify)
    {
        var bits = StoredNotify.Unspecified;
        foreach (var n in notify)
        {
            bits |= n switch
            {
                "never" => StoredNotify.Never,
                "success" => StoredNotify.Success,
                "failure" => StoredNotify.Failure,
                _ => StoredNotify.Delay,
            };
        }

        return bits;
    }

    public static DsnReturn Ret(string? ret) => ret switch
    {
        "full" => DsnReturn.Full,
        "headers" => DsnReturn.Headers,
        _ => DsnReturn.Unspecified,
    };

    /// <summary>ENVID as stored: xtext (RFC 3461 4): '+', '=' and characters outside 33..126 as +HH.</summary>
    public static byte[] EnvelopeIdXtext(string? envid)
    {
        if (envid is null)
        {
            return [];
        }

        var sb = new StringBuilder(envid.Length);
        foreach (var c in envid)
        {
            if (c is < '!' or > '~' or '+' or '=')
            {
                sb.Append('+').Append(((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }

        return Encoding.ASCII.GetBytes(sb.ToString());
    }
}
