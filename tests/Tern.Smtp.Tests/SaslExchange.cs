using Tern.Sasl;

namespace Tern.Smtp.Tests;

/// <summary>Drives a Tern.Sasl client through SMTP AUTH over whatever test connection sends the commands.</summary>
internal static class SaslExchange
{
    /// <summary>
    /// AUTH with the client's initial response (RFC 4954 4: "=" for an empty one), then each 334
    /// challenge answered; a client that fails cancels with "*". Returns the final reply.
    /// </summary>
    public static async Task<string> RunAsync(SaslClient client, Func<string, Task<string>> command)
    {
        var start = client.Start();
        var reply = await command(start.Response is null ? $"AUTH {client.Mechanism}" : $"AUTH {client.Mechanism} {(start.Response.Length == 0 ? "=" : Convert.ToBase64String(start.Response))}");
        while (reply.StartsWith("334 ", StringComparison.Ordinal))
        {
            var step = client.Step(Convert.FromBase64String(reply[4..]));
            if (step.Status == SaslStatus.Failure)
            {
                reply = await command("*");
                break;
            }

            reply = await command(Convert.ToBase64String(step.Response ?? []));
        }

        return reply;
    }
}
