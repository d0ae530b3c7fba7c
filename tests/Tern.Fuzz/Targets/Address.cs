using System.Text;
using Tern.Dns;
using Tern.Fuzz.Support;
using Tern.Smtp.Protocol;

namespace Tern.Fuzz.Targets;

/// <summary>What the server and delivery do with an accepted path: its parts, the domain checks, IDNA, normalisation.</summary>
internal static class Address
{
    public static void Check(ReadOnlySpan<byte> source, in SmtpPath path, bool allowUtf8)
    {
        var mailbox = path.Mailbox(source);
        FuzzInvariantException.Check(mailbox.Length <= SmtpPathParser.MaxPathLength, "mailbox over the path limit");
        if (path.IsNull)
        {
            return;
        }

        FuzzInvariantException.Check(allowUtf8 || !path.HasNonAscii, "non-ASCII path accepted without SMTPUTF8");
        var local = path.LocalPart(source);
        FuzzInvariantException.Check(local.Length <= mailbox.Length, "local part longer than the mailbox");
        if (path.DomainOffset < 0)
        {
            return;
        }

        var domain = path.Domain(source);
        if (path.IsAddressLiteral)
        {
            FuzzInvariantException.Check(SmtpPathParser.IsAddressLiteral(domain), "address literal accepted but not one");
            // Delivery routes a literal by its address.
            _ = DomainName.TryParseAddressLiteral(Encoding.UTF8.GetString(domain), out _);
            return;
        }

        FuzzInvariantException.Check(SmtpPathParser.IsDomain(domain, allowUtf8, out var nonAscii), "domain accepted by TryParse but not by IsDomain");
        if (nonAscii)
        {
            _ = Idna.ToAscii(domain);
        }

        // Delivery normalises the recipient's domain before DNS (DestinationResolver).
        if (DomainName.TryNormalize(Encoding.UTF8.GetString(domain), out var normalized, out _))
        {
            _ = DomainName.CheckHostName(normalized);
        }
    }
}
