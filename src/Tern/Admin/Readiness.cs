using System.Text.Json;
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
/// <param name="MinFreeBytes">The spool's reserve in force ([spool] min_free), for the detail.</param>
/// <param name="BelowReserve">The spool refuses new messages for want of space (its own state, with the hysteresis band acceptance uses): not ready.</param>
internal sealed record ReadinessInputs(int ListenersExpected, int ListenersBound, bool Stopping, bool SpoolOpen, int Queued, bool CommitsFailing, long? FreeBytes, long MinFreeBytes, bool BelowReserve);

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
        // The spool's own state decides, not a comparison here: once below, acceptance resumes only
        // min_free/8 above the line, and readiness says what acceptance does.
        var free = i.FreeBytes is { } known ? $"{known} bytes free" : "free space unknown";
        var disk = i.BelowReserve
            ? new ReadinessCheck { Ok = false, Detail = $"{free}, below min_free {i.MinFreeBytes}: new messages are refused (452 4.3.1)" }
            : new ReadinessCheck { Ok = true, Detail = $"{free}; min_free {i.MinFreeBytes}" };
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
    public static Func<ReadinessInputs> Probe(SmtpServer smtp, Spool.Spool spool, CancellationToken stopping)
    {
        return () => new ReadinessInputs(
            smtp.Options.Listeners.Count,
            smtp.BoundEndpoints.Count,
            stopping.IsCancellationRequested,
            SpoolOpen: true,
            spool.Count,
            spool.Failing,
            spool.FreeBytes,
            spool.MinFreeBytes,
            spool.BelowReserve);
    }

    internal static byte[] Json(ReadinessReport report)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(report, AdminJsonContext.Default.ReadinessReport);
        return [.. json, (byte)'\n'];
    }
}
