using System.Net;
using System.Net.Sockets;

namespace Tern.Dns;

/// <summary>The order in which one delivery attempt tries a host's addresses.</summary>
public static class AddressOrder
{
    /// <summary>
    /// Families interleave (RFC 8305 section 4), so one broken family costs one connect timeout, not all of them;
    /// the family that goes first alternates across attempts (IPv6 on even attempts, IPv4 on odd), so a family
    /// that keeps failing does not block every retry. <paramref name="lastUsed"/>, when one of the addresses,
    /// goes first: pass the address that answered the previous attempt with a temporary failure, because a
    /// greylisting server (RFC 6647) only lets the retry through from the same client address, and the same
    /// destination address keeps the same family and so our same source address. Pass null after a connection
    /// failure so that the families alternate. Within a family the DNS order is kept.
    /// </summary>
    /// <param name="addresses">The host's addresses in DNS order.</param>
    /// <param name="attempt">0 for the first delivery attempt of the message to this host, then 1, 2...</param>
    /// <param name="lastUsed">The address used by the previous attempt that connected, or null.</param>
    public static IReadOnlyList<IPAddress> ForAttempt(IReadOnlyList<IPAddress> addresses, int attempt, IPAddress? lastUsed = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(attempt);
        var result = new List<IPAddress>(addresses.Count);
        var first = -1;
        if (lastUsed is not null)
        {
            for (var i = 0; i < addresses.Count && first < 0; i++)
            {
                if (addresses[i].Equals(lastUsed))
                    first = i;
            }
            if (first >= 0)
                result.Add(addresses[first]);
        }
        var preferred = attempt % 2 == 0 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
        var preferredList = new List<IPAddress>();
        var otherList = new List<IPAddress>();
        for (var i = 0; i < addresses.Count; i++)
        {
            if (i == first)
                continue;
            (addresses[i].AddressFamily == preferred ? preferredList : otherList).Add(addresses[i]);
        }
        for (var i = 0; i < Math.Max(preferredList.Count, otherList.Count); i++)
        {
            if (i < preferredList.Count)
                result.Add(preferredList[i]);
            if (i < otherList.Count)
                result.Add(otherList[i]);
        }
        return result;
    }
}
