using System.Net;
using System.Net.Sockets;

namespace Tern.EndToEnd.Tests;

/// <summary>Waits for an SMTP server on loopback: up means it accepts a connection and greets with 220.</summary>
internal static class SmtpListener
{
    /// <summary>Waits until something on 127.0.0.1:<paramref name="port"/> greets with 220; false after <paramref name="timeout"/>.</summary>
    public static async Task<bool> WaitForGreetingAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var tcp = new TcpClient();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await tcp.ConnectAsync(IPAddress.Loopback, port, cts.Token);
                using var reader = new StreamReader(tcp.GetStream());
                var greeting = await reader.ReadLineAsync(cts.Token);
                if (greeting?.StartsWith("220 ", StringComparison.Ordinal) == true)
                {
                    return true;
                }
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
            {
            }

            await Task.Delay(25);
        }

        return false;
    }
}
