using DnsClient;
using DnsClient.Protocol;

namespace Tern.Dns;

public sealed partial class DnsResolver
{
    /// <summary>
    /// One lookup: the query, then the CNAME chain (RFC 1034 section 4.3.2: a recursive resolver puts the chain
    /// and the target's records in one answer; when it stops at an alias we ask for the target ourselves).
    /// Authentic only when every response used had the AD bit.
    /// </summary>
    private async Task<DnsAnswer<T>> ResolveAsync<T>(string qname, QueryType type, Func<DnsResourceRecord, T?> select)
        where T : class
    {
        var current = qname;
        var authentic = TrustsAdBit;
        var ttl = uint.MaxValue;
        var hops = 0;
        while (true)
        {
            var (response, failure, error) = await QueryAsync(current, type);
            if (response is null)
                return Failed<T>(qname, current, failure, error);
            authentic &= response.Header.IsAuthenticData;
            var answers = response.Answers;

            var followed = false;
            if (type != QueryType.CNAME)
            {
                while (FindCname(answers, current) is { } cname)
                {
                    if (++hops > _options.MaxCnameDepth)
                        return Failed<T>(qname, current, DnsStatus.TemporaryFailure, $"more than {_options.MaxCnameDepth} CNAMEs from {qname} (a loop?)");
                    ttl = Math.Min(ttl, (uint)Math.Max(0, cname.TimeToLive));
                    current = FromWire(cname.CanonicalName);
                    followed = true;
                }
            }

            List<T>? records = null;
            foreach (var rr in answers)
            {
                if (rr.RecordType != (ResourceRecordType)type || !SameName(rr.DomainName, current) || select(rr) is not { } value)
                    continue;
                (records ??= []).Add(value);
                ttl = Math.Min(ttl, (uint)Math.Max(0, rr.TimeToLive));
            }
            if (records is not null)
            {
                return new DnsAnswer<T>
                {
                    Status = DnsStatus.Ok, Name = qname, CanonicalName = current, Records = records, Authentic = authentic,
                    Ttl = Clamp(TimeSpan.FromSeconds(ttl), _options.MinTtl, _options.MaxTtl),
                };
            }

            var soa = response.Authorities.OfType<SoaRecord>().FirstOrDefault();
            var nxdomain = response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain;
            if (!nxdomain && followed && soa is null && hops < _options.MaxCnameDepth)
                continue;
            return new DnsAnswer<T>
            {
                Status = nxdomain ? DnsStatus.NxDomain : DnsStatus.NoData, Name = qname, CanonicalName = current, Authentic = authentic,
                Ttl = NegativeTtl(soa, ttl),
                Error = nxdomain ? $"{current}: no such domain (NXDOMAIN)" : $"{current}: no {TypeName(type)} records",
            };
        }
    }

    /// <summary>
    /// Asks the servers in order until one gives a usable response. SERVFAIL, REFUSED and network errors move
    /// on to the next server (as libc's resolver does); an answer or NXDOMAIN ends it; FORMERR, NOTIMP and the
    /// other codes are permanent failures. DnsClient retries each server itself (<see cref="DnsOptions.Attempts"/>).
    /// </summary>
    private async Task<(IDnsQueryResponse? Response, DnsStatus Failure, string? Error)> QueryAsync(string name, QueryType type)
    {
        var question = new DnsQuestion(name, type, QueryClass.IN);
        var failure = DnsStatus.TemporaryFailure;
        string? error = null;
        for (var i = 0; i < _servers.Length; i++)
        {
            var server = _servers[i];
            var endpoint = Servers[i];
            IDnsQueryResponse response;
            try
            {
                response = await _client.QueryServerAsync(server, question);
            }
            catch (ArgumentException e)
            {
                // A name DnsClient cannot encode: asking elsewhere will not help.
                return (null, DnsStatus.PermanentFailure, $"{name}: {e.Message}");
            }
            catch (DnsResponseException e) when (e.Code == DnsResponseCode.ConnectionTimeout)
            {
                error = $"timeout asking {endpoint} for {name} {TypeName(type)}";
                DnsLog.ServerFailed(_log, endpoint, name, TypeName(type), error);
                continue;
            }
            catch (Exception e)
            {
                error = $"error asking {endpoint} for {name} {TypeName(type)}: {e.Message}";
                DnsLog.ServerFailed(_log, endpoint, name, TypeName(type), error);
                continue;
            }
            switch (response.Header.ResponseCode)
            {
                case DnsHeaderResponseCode.NoError:
                case DnsHeaderResponseCode.NotExistentDomain:
                    return (response, DnsStatus.Ok, null);
                case DnsHeaderResponseCode.ServerFailure:
                case DnsHeaderResponseCode.Refused:
                    failure = DnsStatus.TemporaryFailure;
                    error = $"{RcodeName(response.Header.ResponseCode)} from {endpoint} for {name} {TypeName(type)}";
                    DnsLog.ServerFailed(_log, endpoint, name, TypeName(type), error);
                    continue;
                default:
                    return (null, DnsStatus.PermanentFailure, $"{RcodeName(response.Header.ResponseCode)} from {endpoint} for {name} {TypeName(type)}");
            }
        }
        return (null, failure, error ?? "no DNS servers configured");
    }

    private DnsAnswer<T> Failed<T>(string qname, string current, DnsStatus status, string? error) => new()
    {
        Status = status, Name = qname, CanonicalName = current, Error = error,
        Ttl = _options.FailureTtl > MaxFailureTtl ? MaxFailureTtl : _options.FailureTtl,
    };

    // RFC 2308 section 7: server failures and dead servers are cached at most five minutes.
    private static readonly TimeSpan MaxFailureTtl = TimeSpan.FromMinutes(5);

    /// <summary>RFC 2308 section 5: a negative answer lives min(SOA TTL, SOA MINIMUM), and not longer than the CNAMEs leading to it.</summary>
    private TimeSpan NegativeTtl(SoaRecord? soa, uint chainTtl)
    {
        var ttl = soa is null ? _options.DefaultNegativeTtl : TimeSpan.FromSeconds(Math.Min((uint)Math.Max(0, soa.TimeToLive), soa.Minimum));
        if (chainTtl != uint.MaxValue && TimeSpan.FromSeconds(chainTtl) < ttl)
            ttl = TimeSpan.FromSeconds(chainTtl);
        return ttl > _options.MaxNegativeTtl ? _options.MaxNegativeTtl : ttl;
    }

    private static TimeSpan Clamp(TimeSpan ttl, TimeSpan min, TimeSpan max) => ttl < min ? min : ttl > max ? max : ttl;

    private static CNameRecord? FindCname(IReadOnlyList<DnsResourceRecord> answers, string owner)
    {
        foreach (var rr in answers)
        {
            if (rr is CNameRecord cname && SameName(cname.DomainName, owner))
                return cname;
        }
        return null;
    }

    private static bool SameName(DnsString wire, string normalized)
    {
        var value = wire.Value.AsSpan();
        if (value.EndsWith("."))
            value = value[..^1];
        return value.Equals(normalized, StringComparison.OrdinalIgnoreCase);
    }

    private static string RcodeName(DnsHeaderResponseCode code) => code switch
    {
        DnsHeaderResponseCode.FormatError => "FORMERR",
        DnsHeaderResponseCode.ServerFailure => "SERVFAIL",
        DnsHeaderResponseCode.NotExistentDomain => "NXDOMAIN",
        DnsHeaderResponseCode.NotImplemented => "NOTIMP",
        DnsHeaderResponseCode.Refused => "REFUSED",
        _ => "RCODE " + ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
