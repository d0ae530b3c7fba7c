using Microsoft.Extensions.Logging;

namespace Tern.Delivery;

/// <summary>The connector each kind of transport uses.</summary>
public static class Connectors
{
    /// <summary>
    /// Direct and smarthost transports connect from this host (a direct transport with its source
    /// addresses and family switches); a SOCKS transport through its proxy. A fail transport never
    /// connects (<see cref="ArgumentException"/>).
    /// </summary>
    public static IConnector For(Transport transport, ILoggerFactory loggers, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        var plain = new ConnectorOptions { Timeout = timeout ?? ConnectorOptions.DefaultTimeout };
        return transport switch
        {
            DirectTransport d => new DirectConnector(ConnectorOptions.For(d, timeout), loggers),
            SocksTransport s => new Socks5Connector(Socks5ProxyOptions.For(s), plain, loggers),
            SmarthostTransport => new DirectConnector(plain, loggers),
            _ => throw new ArgumentException($"transport \"{transport.Name}\" ({transport.Kind}) does not connect", nameof(transport)),
        };
    }
}
