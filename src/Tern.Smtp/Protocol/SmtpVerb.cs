namespace Tern.Smtp.Protocol;

/// <summary>The commands a Tern server understands (RFC 5321 4.1.1 and extensions).</summary>
public enum SmtpVerb : byte
{
    Unknown = 0,
    Ehlo,
    Helo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth,
}
