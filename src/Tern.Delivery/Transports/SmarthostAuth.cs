namespace Tern.Delivery;

/// <summary>
/// Credentials for SMTP AUTH to a smarthost (RFC 4954). <see cref="ToString"/> never shows the
/// password, so that a transport can be logged.
/// </summary>
/// <param name="Mechanisms">
/// SASL mechanisms to try, in order, among those the server offers; empty: SCRAM-SHA-256-PLUS,
/// SCRAM-SHA-256, SCRAM-SHA-1-PLUS, SCRAM-SHA-1, CRAM-MD5, then PLAIN/LOGIN only over verified TLS
/// (see <see cref="Tern.Sasl.SaslClientFactory.Choose"/>).
/// </param>
public sealed record SmarthostAuth(string Username, string Password, IReadOnlyList<string> Mechanisms)
{
    public SmarthostAuth(string username, string password)
        : this(username, password, [])
    {
    }

    public override string ToString() => $"SmarthostAuth {{ Username = {Username}, Password = ***, Mechanisms = [{string.Join(", ", Mechanisms)}] }}";
}
