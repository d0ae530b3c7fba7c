using System.Net;
using System.Net.Sockets;
using System.Text;
using Tern.Sasl;

namespace Tern.Delivery;

/// <summary>Checks one transport's settings; problems are returned as values (<see cref="RoutingError"/>).</summary>
internal static class TransportValidation
{
    /// <summary>The queue's own limit for a transport name set by the operator.</summary>
    public const int MaxNameLength = 255;

    /// <summary>RFC 1929 section 2: ULEN and PLEN are one octet, 1 to 255.</summary>
    private const int MaxSocksCredential = 255;

    /// <summary>Reply text limit: a reply line is at most 512 octets (RFC 5321 section 4.5.3.1.5).</summary>
    private const int MaxReplyText = 400;

    public static string? NameProblem(string name) =>
        name.Length == 0 ? "empty transport name"
        : name.Length > MaxNameLength ? $"transport name longer than {MaxNameLength} characters"
        : name.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)) ? $"transport name \"{name}\" contains spaces or control characters"
        : null;

    public static void Check(Transport t, List<RoutingError> errors)
    {
        void Error(string property, string message) => errors.Add(new RoutingError(t.Name, null, property, message));

        if (NameProblem(t.Name) is { } nameProblem)
        {
            Error(nameof(Transport.Name), nameProblem);
        }

        switch (t)
        {
            case DirectTransport d:
                CheckDirect(d, Error);
                break;
            case SmarthostTransport s:
                CheckSmarthost(s, Error);
                break;
            case SocksTransport s:
                CheckSocks(s, Error);
                break;
            case FailTransport f:
                CheckFail(f, Error);
                break;
            default:
                Error(nameof(Transport.Kind), $"unknown transport type {t.GetType().Name}");
                break;
        }
    }

    private static void CheckDirect(DirectTransport d, Action<string, string> error)
    {
        if (d.DisableIPv4 && d.DisableIPv6)
        {
            error(nameof(DirectTransport.DisableIPv6), "IPv4 and IPv6 are both disabled: nothing could be delivered");
        }

        if (d.SourceIPv4 is { } v4 && v4.AddressFamily != AddressFamily.InterNetwork)
        {
            error(nameof(DirectTransport.SourceIPv4), $"{v4} is not an IPv4 address");
        }

        if (d.SourceIPv6 is { } v6 && (v6.AddressFamily != AddressFamily.InterNetworkV6 || v6.IsIPv4MappedToIPv6))
        {
            error(nameof(DirectTransport.SourceIPv6), $"{v6} is not an IPv6 address");
        }

        CheckEhlo(d.EhloName, required: false, error);
    }

    private static void CheckSmarthost(SmarthostTransport s, Action<string, string> error)
    {
        CheckHost(s.Host, nameof(SmarthostTransport.Host), error);
        CheckPort(s.Port, nameof(SmarthostTransport.Port), error);
        CheckEhlo(s.EhloName, required: false, error);
        if (s.Auth is not { } auth)
        {
            return;
        }

        if (auth.Username.Length == 0)
        {
            error(nameof(SmarthostTransport.Auth), "AUTH needs a username");
        }

        if (auth.Password.Length == 0)
        {
            error(nameof(SmarthostTransport.Auth), "AUTH needs a password");
        }

        foreach (var m in auth.Mechanisms)
        {
            if (SaslMechanisms.Canonical(m) is null)
            {
                error(nameof(SmarthostTransport.Auth), $"unknown SASL mechanism \"{m}\" (known: {string.Join(", ", SaslMechanisms.All)})");
            }
        }
    }

    private static void CheckSocks(SocksTransport s, Action<string, string> error)
    {
        CheckHost(s.ProxyHost, nameof(SocksTransport.ProxyHost), error);
        CheckPort(s.ProxyPort, nameof(SocksTransport.ProxyPort), error);
        CheckEhlo(s.EhloName, required: true, error);
        if (s.PublicAddresses.Count == 0)
        {
            error(nameof(SocksTransport.PublicAddresses), "the proxy's public IP addresses are required");
        }

        if (s.Credentials is { } c)
        {
            foreach (var (value, what) in (ReadOnlySpan<(string, string)>)[(c.Username, "username"), (c.Password, "password")])
            {
                var bytes = Encoding.UTF8.GetByteCount(value);
                if (bytes is 0 or > MaxSocksCredential)
                {
                    error(nameof(SocksTransport.Credentials), $"the SOCKS5 {what} must be 1 to {MaxSocksCredential} bytes (RFC 1929), not {bytes}");
                }
            }
        }
    }

    private static void CheckFail(FailTransport f, Action<string, string> error)
    {
        if (f.Code is < 400 or > 599)
        {
            error(nameof(FailTransport.Code), $"{f.Code} is not a 4xx or 5xx reply code (RFC 5321 section 4.2.1)");
        }

        if (!IsEnhancedCode(f.EnhancedCode))
        {
            error(nameof(FailTransport.EnhancedCode), $"\"{f.EnhancedCode}\" is not an enhanced status code 4.x.y or 5.x.y (RFC 3463 section 2)");
        }
        else if (f.Code is >= 400 and <= 599 && f.EnhancedCode[0] - '0' != f.Code / 100)
        {
            error(nameof(FailTransport.EnhancedCode), $"class of \"{f.EnhancedCode}\" does not match reply code {f.Code} (RFC 3463 section 3.1)");
        }

        if (f.Text.Length == 0 || f.Text.Length > MaxReplyText || f.Text.Any(c => c is < ' ' or > '~'))
        {
            error(nameof(FailTransport.Text), $"reply text must be 1 to {MaxReplyText} printable US-ASCII characters (RFC 5321 section 4.2)");
        }
    }

    /// <summary>RFC 3463 section 2: class "." subject "." detail, subject and detail 1 to 3 digits.</summary>
    private static bool IsEnhancedCode(string code)
    {
        var parts = code.Split('.');
        return parts.Length == 3
            && parts[0] is "4" or "5"
            && parts[1].Length is >= 1 and <= 3 && parts[1].All(char.IsAsciiDigit)
            && parts[2].Length is >= 1 and <= 3 && parts[2].All(char.IsAsciiDigit);
    }

    private static void CheckHost(string host, string property, Action<string, string> error)
    {
        if (IPAddress.TryParse(host, out _))
        {
            return;
        }

        if (DomainPattern.DomainProblem(host, host) is { } problem)
        {
            error(property, problem);
        }
    }

    private static void CheckPort(int port, string property, Action<string, string> error)
    {
        if (port is < 1 or > 65535)
        {
            error(property, $"port {port} is not between 1 and 65535");
        }
    }

    private static void CheckEhlo(string? name, bool required, Action<string, string> error)
    {
        if (name is null)
        {
            if (required)
            {
                error("EhloName", "the EHLO name is required");
            }

            return;
        }

        // RFC 5321 section 4.1.1.1: EHLO takes a domain (or an address literal, not supported here).
        if (DomainPattern.DomainProblem(name, name) is { } problem)
        {
            error("EhloName", problem);
        }
    }
}
