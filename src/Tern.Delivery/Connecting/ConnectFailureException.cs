namespace Tern.Delivery;

/// <summary>
/// A failure the connectors classify themselves (a source address that cannot be bound, a SOCKS5
/// refusal or protocol error, RFC 1928/1929); turned into a <see cref="ConnectError"/> by <see cref="ConnectLoop"/>.
/// </summary>
internal sealed class ConnectFailureException(ConnectErrorKind kind, bool fatal, string message, Socks5Reply? reply = null, Exception? inner = null)
    : IOException(message, inner)
{
    public ConnectErrorKind Kind { get; } = kind;

    /// <summary>No other address can succeed (the proxy is unreachable, refuses our credentials, or cannot CONNECT).</summary>
    public bool Fatal { get; } = fatal;

    /// <summary>The proxy's reply code to CONNECT, when it sent one.</summary>
    public Socks5Reply? Reply { get; } = reply;
}
