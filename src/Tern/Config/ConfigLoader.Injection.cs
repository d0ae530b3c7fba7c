using Tern.Smtp.Server;

namespace Tern.Config;

/// <summary>Binding of <c>[injection]</c>, the HTTP injection API.</summary>
public static partial class ConfigLoader
{
    /// <summary>
    /// <c>enabled</c>, <c>max_message_size</c> and <c>max_recipients</c>; the limits default to the
    /// <c>[smtp]</c> ones (<paramref name="smtp"/>) and have the same bounds, and the line limit is
    /// always <c>[smtp]</c>'s <c>max_data_line</c>.
    /// </summary>
    private static InjectionConfig BindInjection(ConfigTable? t, SmtpLimits smtp)
    {
        var d = new InjectionConfig
        {
            MaxMessageSize = smtp.MaxMessageSize,
            MaxRecipients = smtp.MaxRecipients,
            MaxLineLength = smtp.MaxDataLine,
        };
        if (t is null)
        {
            return d;
        }

        var config = d with
        {
            Enabled = t.Bool("enabled", d.Enabled),
            MaxMessageSize = t.Size("max_message_size", d.MaxMessageSize, 1024, 2L << 30),

            // As for SMTP (RFC 5321 4.5.3.1.8): a client may count on 100 recipients.
            MaxRecipients = (int)t.Integer("max_recipients", d.MaxRecipients, 100, 100_000),
        };
        t.Finish();
        return config;
    }
}
