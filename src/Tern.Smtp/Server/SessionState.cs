namespace Tern.Smtp.Server;

/// <summary>Where a session is in the RFC 5321 command sequence (4.1.4).</summary>
internal enum SessionState : byte
{
    /// <summary>Greeting sent; EHLO/HELO expected.</summary>
    Connected,

    /// <summary>EHLO/HELO done; no transaction.</summary>
    Greeted,

    /// <summary>MAIL accepted.</summary>
    Mail,

    /// <summary>At least one RCPT accepted.</summary>
    Rcpt,

    /// <summary>Receiving DATA content.</summary>
    Data,

    /// <summary>Receiving a BDAT chunk (RFC 3030).</summary>
    Bdat,

    /// <summary>Closing.</summary>
    Quit,
}
