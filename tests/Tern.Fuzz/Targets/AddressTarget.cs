using Tern.Fuzz.Support;
using Tern.Smtp.Protocol;

namespace Tern.Fuzz.Targets;

/// <summary>
/// The mail address parser on its own (RFC 5321 4.1.2 Path, RFC 6531 UTF-8 mailboxes, IDN domains):
/// <see cref="SmtpPathParser.TryParse"/> with the first byte choosing null-path, Postmaster and UTF-8
/// permission, then what the server and delivery do with an accepted address.
/// </summary>
internal static class AddressTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        var flags = input.IsEmpty ? 0 : input[0];
        var text = input.IsEmpty ? input : input[1..];
        var allowUtf8 = (flags & 4) != 0;
        var error = SmtpPathParser.TryParse(text, 0, allowNull: (flags & 1) != 0, allowPostmaster: (flags & 2) != 0, allowUtf8, out var path, out var consumed);
        FuzzInvariantException.Check(Enum.IsDefined(error), "unknown PathError value");
        if (error != PathError.None)
        {
            return;
        }

        FuzzInvariantException.Check(consumed > 0 && consumed <= text.Length, $"consumed {consumed} of {text.Length}");
        Address.Check(text, in path, allowUtf8);

        // The domain checks are also used alone (EHLO argument, configuration).
        var at = text.LastIndexOf((byte)'@');
        if (at >= 0)
        {
            _ = SmtpPathParser.IsDomain(text[(at + 1)..], allowUtf8, out _);
            _ = SmtpPathParser.IsAddressLiteral(text[(at + 1)..]);
            _ = Idna.ToAscii(text[(at + 1)..]);
        }
    }
}
