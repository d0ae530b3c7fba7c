using System.Globalization;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// Pieces of tern.toml that the relay-to-sink tests share, to interpolate into a test's configuration
/// (TOML tables may come in any order; a piece ends after its last key).
/// </summary>
internal static class ConfigToml
{
    /// <summary>The relay listener on 127.0.0.1:<paramref name="port"/> (0: any free port), relaying for every loopback client.</summary>
    public static string LoopbackRelay(int port) => $"""
        [relay]
        networks = ["127.0.0.0/8"]
        [listeners.relay]
        kind = "relay"
        address = "127.0.0.1:{port}"
        """;

    /// <summary>
    /// An SMTP transport <paramref name="name"/> to 127.0.0.1:<paramref name="port"/> (a tern-load sink or
    /// a test's catcher: STARTTLS not required) and the route that sends mail for <paramref name="domains"/> there.
    /// </summary>
    public static string SmtpRoute(string name, int port, params string[] domains) =>
        SmtpTransport(name, port) + "\n" + Route(name, domains);

    /// <summary>An SMTP transport <paramref name="name"/> to 127.0.0.1:<paramref name="port"/>, STARTTLS not required, with <paramref name="settings"/> added.</summary>
    public static string SmtpTransport(string name, int port, string settings = "")
    {
        var transport = string.Create(CultureInfo.InvariantCulture, $"""
            [transports.{name}]
            kind = "smtp"
            host = "127.0.0.1"
            port = {port}
            require_tls = false
            """);
        return settings.Length == 0 ? transport : transport + "\n" + settings;
    }

    /// <summary>
    /// A <c>[[routes]]</c> entry sending mail for <paramref name="domains"/> to <paramref name="transport"/>.
    /// Entries may sit anywhere among the other tables (the loader keeps every one; Tomlyn alone would
    /// keep only the last run of them: see ConfigLoader.TableArrays.cs).
    /// </summary>
    public static string Route(string transport, params string[] domains)
    {
        var list = string.Join(", ", domains.Select(d => $"\"{d}\""));
        return $"""
            [[routes]]
            recipient_domains = [{list}]
            transport = "{transport}"
            """;
    }
}
