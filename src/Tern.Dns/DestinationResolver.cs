using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;

namespace Tern.Dns;

/// <summary>
/// Where mail for a domain goes (RFC 5321 section 5.1): the MX hosts in order, the domain itself without MX,
/// nowhere for a null MX (RFC 7505); then each host's addresses and whether the whole DNS chain was
/// DNSSEC-authentic (for DANE, RFC 7672 section 2.2). Thread-safe.
/// </summary>
public sealed class DestinationResolver
{
    private readonly IDnsResolver _dns;
    private readonly DestinationOptions _options;
    private readonly ILogger _log;
    private readonly Random _random;
    private readonly Lock _randomLock = new();

    /// <param name="random">Orders MX hosts of equal preference; tests pass a seeded one. Default: <see cref="Random.Shared"/>.</param>
    public DestinationResolver(IDnsResolver dns, DestinationOptions options, ILoggerFactory loggers, Random? random = null)
    {
        if (!options.UseIPv4 && !options.UseIPv6)
            throw new ArgumentException("at least one address family must be enabled", nameof(options));
        _dns = dns;
        _options = options;
        _log = loggers.CreateLogger(LogComponents.Dns);
        _random = random ?? Random.Shared;
    }

    /// <summary>The hosts to try for <paramref name="domain"/> (the part after the @ of a recipient).</summary>
    public async ValueTask<Destinations> ResolveAsync(string domain, CancellationToken cancellationToken = default)
    {
        // RFC 5321 section 4.1.3 / 5.1: an address literal is the destination itself, no DNS.
        if (DomainName.TryParseAddressLiteral(domain, out var literal))
        {
            var host = new DestinationHost { Name = domain.Trim(), Address = literal };
            return new Destinations { Status = DestinationStatus.Ok, Domain = host.Name, ExpandedDomain = host.Name, Hosts = [host] };
        }
        if (!DomainName.TryNormalize(domain, out var name, out var invalid))
            return Failure(domain, domain, DestinationStatus.PermanentFailure, DestinationCodes.NoSuchDomain, invalid);

        // The resolver follows the domain's CNAMEs: "the resulting name is processed as if it were the initial name" (RFC 5321 section 5.1).
        var mx = await _dns.LookupMxAsync(name, cancellationToken);
        switch (mx.Status)
        {
            case DnsStatus.Ok:
                return FromMx(name, mx);
            case DnsStatus.NoData:
                // RFC 5321 section 5.1: no MX records, the domain is the implicit MX with preference 0. The
                // original name, not the CNAME target: it is what the address lookup and TLS name checks start from.
                return new Destinations
                {
                    Status = DestinationStatus.Ok, Domain = name, ExpandedDomain = mx.CanonicalName, ImplicitMx = true, Authentic = mx.Authentic,
                    Hosts = [new DestinationHost { Name = name, MxAuthentic = mx.Authentic }],
                };
            case DnsStatus.NxDomain:
                return Failure(name, mx.CanonicalName, DestinationStatus.PermanentFailure, DestinationCodes.NoSuchDomain, mx.Error);
            default:
                // Also for FORMERR/NOTIMP: those say more about the resolver than about the recipient's domain,
                // so the message waits in the queue rather than bouncing.
                return Failure(name, mx.CanonicalName, DestinationStatus.TemporaryFailure, DestinationCodes.DnsFailure, mx.Error);
        }
    }

    /// <summary>
    /// The A and AAAA records of one host (only the enabled families), looked up together. Usable addresses of
    /// one family are enough even when the other family's lookup failed.
    /// </summary>
    public async ValueTask<HostAddresses> ResolveHostAsync(DestinationHost host, CancellationToken cancellationToken = default)
    {
        if (host.Address is { } literal)
        {
            var allowed = literal.AddressFamily == AddressFamily.InterNetwork ? _options.UseIPv4 : _options.UseIPv6;
            return allowed
                ? new HostAddresses { Status = DestinationStatus.Ok, Host = host.Name, CanonicalName = host.Name, Addresses = [literal] }
                : new HostAddresses
                {
                    Status = DestinationStatus.PermanentFailure, Host = host.Name, CanonicalName = host.Name, EnhancedCode = DestinationCodes.NoRoute,
                    Error = $"{host.Name}: address family disabled",
                };
        }

        var v4Task = _options.UseIPv4 ? _dns.LookupAAsync(host.Name, cancellationToken) : default;
        var v6Task = _options.UseIPv6 ? _dns.LookupAaaaAsync(host.Name, cancellationToken) : default;
        var v4 = _options.UseIPv4 ? await v4Task : null;
        var v6 = _options.UseIPv6 ? await v6Task : null;

        var addresses = new List<IPAddress>();
        var authentic = host.MxAuthentic;
        var temporary = false;
        string? canonical = null;
        string? error = null;
        foreach (var answer in (ReadOnlySpan<DnsAnswer<IPAddress>?>)[v4, v6])
        {
            if (answer is null)
                continue;
            authentic &= answer.Authentic && answer.Status is DnsStatus.Ok or DnsStatus.NoData or DnsStatus.NxDomain;
            if (answer.Status == DnsStatus.Ok)
            {
                addresses.AddRange(answer.Records);
                canonical ??= answer.CanonicalName;
            }
            else if (answer.Status is DnsStatus.TemporaryFailure or DnsStatus.PermanentFailure)
            {
                temporary = true;
                error = error is null ? answer.Error : error + "; " + answer.Error;
            }
            else
            {
                canonical ??= answer.CanonicalName;
            }
        }
        canonical ??= host.Name;

        if (addresses.Count > 0)
            return new HostAddresses { Status = DestinationStatus.Ok, Host = host.Name, CanonicalName = canonical, Addresses = addresses, Authentic = authentic, Error = error };
        if (temporary)
            return new HostAddresses { Status = DestinationStatus.TemporaryFailure, Host = host.Name, CanonicalName = canonical, EnhancedCode = DestinationCodes.DnsFailure, Error = error };
        return new HostAddresses
        {
            Status = DestinationStatus.PermanentFailure, Host = host.Name, CanonicalName = canonical, Authentic = authentic,
            EnhancedCode = DestinationCodes.NoRoute, Error = $"{host.Name}: no {Families()} address records",
        };
    }

    private Destinations FromMx(string domain, DnsAnswer<MxRecord> mx)
    {
        // RFC 7505 section 3: a single MX with the root as exchange: the domain accepts no mail.
        if (mx.Records.Count == 1 && mx.Records[0].IsNullMx)
        {
            return Failure(domain, mx.CanonicalName, DestinationStatus.PermanentFailure, DestinationCodes.NullMx,
                $"{domain} does not accept mail (null MX, RFC 7505)", mx.Authentic);
        }

        var hosts = new List<DestinationHost>(mx.Records.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        // Lowest preference first (RFC 5321 section 5.1); a name listed twice keeps its lowest preference.
        foreach (var record in mx.Records.OrderBy(r => r.Preference))
        {
            if (record.IsNullMx)
            {
                // RFC 7505 section 3 forbids a null MX next to others; the others are still usable.
                DnsLog.NullMxAmongOthers(_log, domain);
                continue;
            }
            switch (DomainName.CheckHostName(record.Host))
            {
                case HostNameSyntax.Invalid:
                    DnsLog.InvalidMx(_log, domain, record.Host);
                    continue;
                case HostNameSyntax.Underscore:
                    DnsLog.UnderscoreMx(_log, domain, record.Host);
                    break;
            }
            if (seen.Add(record.Host))
                hosts.Add(new DestinationHost { Name = record.Host, Preference = record.Preference, MxAuthentic = mx.Authentic });
        }
        if (hosts.Count == 0)
        {
            return Failure(domain, mx.CanonicalName, DestinationStatus.PermanentFailure, DestinationCodes.NoRoute,
                $"{domain}: no usable MX host name", mx.Authentic);
        }
        ShuffleEqualPreferences(hosts);
        return new Destinations
        {
            Status = DestinationStatus.Ok, Domain = domain, ExpandedDomain = mx.CanonicalName, Hosts = hosts, Authentic = mx.Authentic,
        };
    }

    /// <summary>RFC 5321 section 5.1: hosts of equal preference are tried in random order, spreading the load.</summary>
    private void ShuffleEqualPreferences(List<DestinationHost> hosts)
    {
        lock (_randomLock)
        {
            for (var start = 0; start < hosts.Count;)
            {
                var end = start + 1;
                while (end < hosts.Count && hosts[end].Preference == hosts[start].Preference)
                    end++;
                // Fisher-Yates within [start, end).
                for (var i = end - 1; i > start; i--)
                {
                    var j = _random.Next(start, i + 1);
                    (hosts[i], hosts[j]) = (hosts[j], hosts[i]);
                }
                start = end;
            }
        }
    }

    private string Families() => (_options.UseIPv4, _options.UseIPv6) switch
    {
        (true, true) => "A or AAAA",
        (true, false) => "A",
        _ => "AAAA",
    };

    private static Destinations Failure(string domain, string expanded, DestinationStatus status, string code, string? error, bool authentic = false) => new()
    {
        Status = status, Domain = domain, ExpandedDomain = expanded, EnhancedCode = code, Error = error, Authentic = authentic,
    };
}
