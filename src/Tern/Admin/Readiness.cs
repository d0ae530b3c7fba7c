using System.Text.Json;
using Tern.Config;
using Tern.Http;
using Tern.Smtp.Server;

namespace Tern.Admin;

/// <summary>What /readyz looks at, sampled once per request.</summary>
/// <param name="ListenersExpected">SMTP listeners in the configuration.</param>
/// <param name="ListenersBound">SMTP listeners bound and accepting.</param>
/// <param name="Stopping">The server is shutting down (its listeners close next).</param>
/// <param name="SpoolOpen">The spool is open: recovered and its index caught up.</param>
/// <param name="Queued">Messages in the queue (for the detail).</param>
/// <param name="CommitsFailing">The spool's last commit failed (disk full or an I/O error).</param>
/// <param name="FreeBytes">Free space on the spool's file system (read at most once a second); null when it cannot be read.</param>
/// <param name="MinFreeBytes">The spool's reserve ([spool] min_free): with less free space, new messages are refused, so not ready.</param>
internal sealed record ReadinessInputs(int ListenersExpected, int ListenersBound, bool Stopping, bool SpoolOpen, int Queued, bool CommitsFailing, long? FreeBytes, long MinFreeBytes);

/// <summary>
/// <c>/readyz</c>: whether this server should get traffic (a load balancer's or orchestrator's
/// question), unlike <c>/healthz</c>, which says the process is alive. 200 when every check passes,
/// 503 otherwise; the JSON body gives each check's detail either way. Unauthenticated, like /healthz.
/// </summary>
internal static class Readiness
{
    public static ReadinessReport Evaluate(ReadinessInputs i)
    {
        var listeners = i.Stopping
            ? new ReadinessCheck { Ok = false, Detail = "shutting down" }
            : new ReadinessCheck { Ok = i.ListenersBound == i.ListenersExpected, Detail = $"{i.ListenersBound} of {i.ListenersExpected} listening" };
        var spool = i.SpoolOpen
            ? new ReadinessCheck { Ok = true, Detail = $"recovered; {i.Queued} message{(i.Queued == 1 ? "" : "s")} queued" }
            : new ReadinessCheck { Ok = false, Detail = "not open" };
        var commits = i.CommitsFailing
            ? new ReadinessCheck { Ok = false, Detail = "failing (disk full or I/O error); the spool reopens its log every few seconds" }
            : new ReadinessCheck { Ok = true, Detail = "succeeding" };
        var disk = i.FreeBytes is not { } free
            ? new ReadinessCheck { Ok = true, Detail = "free space unknown" }
            : free >= i.MinFreeBytes
            ? new ReadinessCheck { Ok = true, Detail = $"{free} bytes free; min_free {i.MinFreeBytes}" }
            : new ReadinessCheck { Ok = false, Detail = $"{free} bytes free, below min_free {i.MinFreeBytes}: new messages are refused (452 4.3.1)" };
        var ok = listeners.Ok && spool.Ok && commits.Ok && disk.Ok;
        return new ReadinessReport
        {
            Status = ok ? "ready" : "not_ready",
            Checks = new ReadinessChecks { Listeners = listeners, Spool = spool, Commits = commits, Disk = disk },
        };
    }

    /// <summary>Maps <c>/readyz</c> (GET, HEAD) to the checks of <paramref name="probe"/>.</summary>
    public static void Map(HttpEndpoint http, Func<ReadinessInputs> probe) =>
        http.Map("/readyz", async (context, _) =>
        {
            var report = Evaluate(probe());
            context.Response.AddHeader("Cache-Control", "no-store");
            await HttpEndpoint.WriteJsonAsync(context.Response, report.Status == "ready" ? 200 : 503, Json(report));
        });

    /// <summary>
    /// The checks of a running host. The HTTP endpoint starts after <c>Spool.Open</c> returned (the
    /// log recovered, the index caught up) and after the SMTP listeners were bound; shutting down
    /// (<paramref name="stopping"/>) closes the listeners first, so it is not ready from that moment.
    /// </summary>
    public static Func<ReadinessInputs> Probe(SmtpServer smtp, Spool.Spool spool, TernConfig config, CancellationToken stopping)
    {
        return () => new ReadinessInputs(
            smtp.Options.Listeners.Count,
            smtp.BoundEndpoints.Count,
            stopping.IsCancellationRequested,
            SpoolOpen: true,
            spool.Count,
            spool.Failing,
            spool.FreeBytes,
            spool.MinFreeBytes);
    }

    /// <summary>Bytes available to this (unprivileged) user on the file system of <paramref name="path"/>.</summary>
    internal static long? FreeBytes(string path)
    {
        try
        {
            return new DriveInfo(path).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    internal static byte[] Json(ReadinessReport report)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(report, AdminJsonContext.Default.ReadinessReport);
        return [.. json, (byte)'\n'];
    }
}
