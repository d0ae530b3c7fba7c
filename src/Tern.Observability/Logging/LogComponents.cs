namespace Tern.Observability.Logging;

/// <summary>
/// Component names: the logger category each library uses, the <c>c=</c> field of a log line, and the
/// keys accepted under <c>[log.components]</c> in the configuration.
/// </summary>
public static class LogComponents
{
    public const string Host = "tern";
    public const string Smtp = "smtp";
    public const string Sasl = "sasl";
    public const string Dns = "dns";
    public const string Spool = "spool";
    public const string Delivery = "delivery";
    public const string Http = "http";

    public static readonly string[] All = [Host, Smtp, Sasl, Dns, Spool, Delivery, Http];
}
