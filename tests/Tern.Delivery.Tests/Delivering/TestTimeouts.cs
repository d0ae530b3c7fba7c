using Tern.Smtp.Client;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>SMTP client timeouts for the deliverer tests: a few seconds per step, so a test against a silent server ends quickly.</summary>
internal static class TestTimeouts
{
    public static readonly SmtpClientTimeouts Short = new()
    {
        Greeting = TimeSpan.FromSeconds(3),
        Command = TimeSpan.FromSeconds(3),
        TlsHandshake = TimeSpan.FromSeconds(3),
        Mail = TimeSpan.FromSeconds(3),
        Rcpt = TimeSpan.FromSeconds(3),
        DataInitiation = TimeSpan.FromSeconds(3),
        DataBlock = TimeSpan.FromSeconds(3),
        DataTermination = TimeSpan.FromSeconds(3),
        Session = TimeSpan.FromSeconds(20),
    };
}
