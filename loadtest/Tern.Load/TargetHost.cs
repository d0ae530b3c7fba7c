using System.Net;
using System.Net.Sockets;

namespace Tern.Load;

/// <summary>
/// Where a run may aim: the target's host resolved, and refused unless every address is loopback
/// (a load run hits your own test server; <c>--allow-remote</c> says otherwise). Shared by
/// <c>send --target</c> and <c>http --url</c>.
/// </summary>
internal static class TargetHost
{
    /// <param name="option">The option named in messages (<c>--target</c>, <c>--url</c>).</param>
    /// <param name="host">The host part (an address literal without brackets, or a name).</param>
    /// <param name="shown">The option's value as given, for messages.</param>
    public static bool TryResolve(string option, string host, string shown, bool allowRemote, out IPAddress[] addresses, out string error)
    {
        error = "";
        if (IPAddress.TryParse(host, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = Dns.GetHostAddresses(host);
            }
            catch (SocketException e)
            {
                addresses = [];
                error = $"{option} host \"{host}\" does not resolve: {e.Message}";
                return false;
            }
        }

        if (addresses.Length == 0)
        {
            error = $"{option} host \"{host}\" has no address";
            return false;
        }

        if (!allowRemote && !addresses.All(IPAddress.IsLoopback))
        {
            error = $"{option} {shown} is not a loopback address; a load run aims at your own test server. Add --allow-remote if you mean it.";
            return false;
        }

        return true;
    }
}
