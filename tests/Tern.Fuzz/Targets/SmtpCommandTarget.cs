using System.Buffers;
using Tern.Fuzz.Support;
using Tern.Smtp.Protocol;

namespace Tern.Fuzz.Targets;

/// <summary>
/// The server's command path (SmtpSession.Process and its MAIL/RCPT handlers): command lines split
/// out of chunked input by <see cref="SmtpCommandParser.TryReadLine"/>, the verb recognised, and
/// MAIL FROM / RCPT TO arguments parsed with their ESMTP parameters (SIZE, BODY, SMTPUTF8,
/// REQUIRETLS, RET, ENVID, AUTH, NOTIFY, ORCPT). Bad input may only come back as LineStatus.TooLong
/// or an <see cref="ArgumentError"/>; every slice a result describes must lie inside the line.
/// </summary>
internal static class SmtpCommandTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        // The first byte picks the session's settings: the RFC 5321 minimum line or Tern's default,
        // and whether EHLO (chunking, parameters) was used.
        var flags = input.IsEmpty ? 0 : input[0];
        var scratch = new byte[(flags & 1) != 0 ? 512 : 4096];
        var esmtp = (flags & 2) == 0;
        var skipping = false;
        var smtpUtf8 = false;
        Chunks.Feed(input.ToArray(), (buffer, final) =>
        {
            var reader = new SequenceReader<byte>(buffer);
            while (!reader.End)
            {
                var before = reader.Consumed;
                var status = SmtpCommandParser.TryReadLine(ref reader, scratch, out var line, ref skipping);
                if (status == LineStatus.NeedMoreData)
                {
                    break;
                }

                FuzzInvariantException.Check(reader.Consumed > before, "TryReadLine returned without consuming");
                if (status == LineStatus.Line)
                {
                    FuzzInvariantException.Check(line.Length <= scratch.Length, "line longer than the limit");
                    Command(line, esmtp, ref smtpUtf8);
                }
            }

            return reader.Position;
        });
    }

    private static void Command(ReadOnlySpan<byte> line, bool esmtp, ref bool smtpUtf8)
    {
        var verb = SmtpCommandParser.ParseVerb(line, out var arg);
        FuzzInvariantException.Check(Enum.IsDefined(verb), "unknown verb value");
        switch (verb)
        {
            case SmtpVerb.Mail:
                if (MailParameters.ParseMailFrom(arg, chunkingOffered: esmtp, out var mail) == ArgumentError.None)
                {
                    Address.Check(arg, in mail.Path, allowUtf8: mail.SmtpUtf8);
                    var envId = arg.Slice(mail.EnvIdStart, mail.EnvIdLength);
                    FuzzInvariantException.Check(envId.IsEmpty || Xtext.IsValid(envId), "ENVID accepted but not xtext");
                    _ = arg.Slice(mail.AuthStart, mail.AuthLength);
                    smtpUtf8 = mail.SmtpUtf8;
                }

                break;

            case SmtpVerb.Rcpt:
                if (MailParameters.ParseRcptTo(arg, smtpUtf8, out var rcpt) == ArgumentError.None)
                {
                    Address.Check(arg, in rcpt.Path, allowUtf8: smtpUtf8);
                    FuzzInvariantException.Check(!rcpt.Path.IsNull, "null reverse-path accepted as a recipient");
                    var orcpt = arg.Slice(rcpt.OrcptStart, rcpt.OrcptLength);
                    FuzzInvariantException.Check(orcpt.IsEmpty || orcpt.IndexOf((byte)';') > 0, "ORCPT accepted without addr-type");
                    if (rcpt.Path.DomainOffset >= 0 && !rcpt.Path.IsAddressLiteral)
                    {
                        // The relay check compares against the accepted domains (SmtpSession.IsAcceptDomain).
                        _ = Idna.EqualsNormalized(rcpt.Path.Domain(arg), "example.com");
                    }
                }

                break;
        }
    }
}
