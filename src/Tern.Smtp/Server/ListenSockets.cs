using System.Net.Sockets;

namespace Tern.Smtp.Server;

/// <summary>How an SMTP listening socket is bound: shared by Tern's server and tern-load's sink.</summary>
public static class ListenSockets
{
    /// <summary>
    /// SO_REUSEADDR only: a restart may bind while connections of the previous process linger in
    /// TIME_WAIT. Not .NET's ReuseAddress option, which on Linux also sets SO_REUSEPORT: with it a second
    /// server (another Tern, another MTA) binds the same address silently and the kernel splits the
    /// connections between the two, instead of the second one failing with "address already in use".
    /// Call before Bind.
    /// </summary>
    public static void AllowRebindAfterRestart(Socket socket)
    {
        if (OperatingSystem.IsLinux())
        {
            const int SolSocket = 1, SoReuseAddr = 2; // <asm-generic/socket.h>
            socket.SetRawSocketOption(SolSocket, SoReuseAddr, [1, 0, 0, 0]);
        }
    }
}
