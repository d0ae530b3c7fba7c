using System.Globalization;
using System.Text;
using Tern.Sasl;
using Tern.Sasl.ChannelBindings;

namespace Tern.Smtp.Server;

/// <summary>Replies that depend on configuration only, built once per listener.</summary>
internal sealed class SessionReplies
{
    public SessionReplies(SmtpServerOptions server, SmtpListenerOptions listener)
    {
        var host = server.Hostname;
        Greeting = Encoding.ASCII.GetBytes($"220 {host} ESMTP Tern\r\n");
        Helo = Encoding.ASCII.GetBytes($"250 {host}\r\n");
        Bye = Encoding.ASCII.GetBytes($"221 2.0.0 {host} closing connection\r\n");
        var canStartTls = listener.Certificate is not null && listener.Kind != ListenerKind.Submissions;
        var auth = server.Authentication?.Mechanisms;

        // AUTH before TLS only when configured; the factory leaves out what needs TLS (RFC 4954 4, RFC 8314).
        var plainAuth = auth is not null && server.AllowAuthWithoutTls ? auth.Advertised(SaslChannel.Plaintext) : [];
        var tlsAuth = auth?.Advertised(SaslChannel.Tls(null)) ?? [];
        var tlsBoundAuth = auth?.Advertised(SaslChannel.Tls(RepresentativeBinding)) ?? [];
        EhloPlain = Ehlo(host, listener, tls: false, canStartTls, plainAuth);
        EhloTls = Ehlo(host, listener, tls: true, canStartTls: false, tlsAuth);
        EhloTlsWithBinding = Ehlo(host, listener, tls: true, canStartTls: false, tlsBoundAuth);
    }

    /// <summary>Stands for "a channel binding is available" when listing mechanisms (-PLUS needs one).</summary>
    private static ChannelBinding RepresentativeBinding { get; } = ChannelBinding.TlsUnique(new byte[12], System.Security.Authentication.SslProtocols.Tls12);

    public byte[] Greeting { get; }

    public byte[] Helo { get; }

    public byte[] Bye { get; }

    /// <summary>EHLO reply before TLS (offers STARTTLS when a certificate is configured).</summary>
    public byte[] EhloPlain { get; }

    /// <summary>EHLO reply once TLS is active (offers REQUIRETLS, RFC 8689 2), without a channel binding.</summary>
    public byte[] EhloTls { get; }

    /// <summary>EHLO reply once TLS is active with a channel binding (adds the -PLUS mechanisms).</summary>
    public byte[] EhloTlsWithBinding { get; }

    private static byte[] Ehlo(string host, SmtpListenerOptions listener, bool tls, bool canStartTls, IReadOnlyList<string> auth)
    {
        var lines = new List<string>
        {
            host,
            "PIPELINING", // RFC 2920
            "8BITMIME", // RFC 6152
            "SMTPUTF8", // RFC 6531
            "SIZE " + listener.Limits.MaxMessageSize.ToString(CultureInfo.InvariantCulture), // RFC 1870
            "ENHANCEDSTATUSCODES", // RFC 2034
            "CHUNKING", // RFC 3030
            "BINARYMIME", // RFC 3030 section 3: BODY=BINARYMIME (with BDAT) is accepted, so it is announced
            "DSN", // RFC 3461
        };
        if (canStartTls)
        {
            lines.Add("STARTTLS"); // RFC 3207
        }

        if (auth.Count > 0)
        {
            lines.Add("AUTH " + string.Join(' ', auth)); // RFC 4954
        }

        if (tls)
        {
            lines.Add("REQUIRETLS"); // RFC 8689
        }

        lines.Add("LIMITS RCPTMAX=" + listener.Limits.MaxRecipients.ToString(CultureInfo.InvariantCulture)); // RFC 9422
        var sb = new StringBuilder();
        for (var i = 0; i < lines.Count; i++)
        {
            sb.Append("250").Append(i == lines.Count - 1 ? ' ' : '-').Append(lines[i]).Append("\r\n");
        }

        return Encoding.ASCII.GetBytes(sb.ToString());
    }
}
