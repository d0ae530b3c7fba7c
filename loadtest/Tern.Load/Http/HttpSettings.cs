using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Tern.Load.Send;

namespace Tern.Load.Http;

/// <summary>A validated <c>tern-load http</c> run: everything the sessions need, parsed once.</summary>
internal sealed record HttpSettings
{
    /// <summary>The injection API's route (Tern's <c>InjectionApi.Path</c>), added to a URL given without a path.</summary>
    public const string MessagesPath = "/api/v1/messages";

    /// <summary>The full request URI (scheme, host, port and path).</summary>
    public required Uri Url { get; init; }

    public required string Token { get; init; }

    public int Sessions { get; init; } = 10;

    public long Messages { get; init; } = 10_000;

    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(10);

    public required Weighted<int> Sizes { get; init; }

    public required Weighted<string> RcptDomains { get; init; }

    public string From { get; init; } = "load@tern-load.test";

    /// <summary>The structured <c>message</c> form (Tern assembles the MIME message) instead of <c>raw</c>.</summary>
    public bool Structured { get; init; }

    /// <summary>Requests per second, or 0 for no cap.</summary>
    public double Rate { get; init; }

    public LoadModel Model { get; init; } = LoadModel.Closed;

    public string? IdsPath { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// An http(s) URL; without a path (or with "/") the injection route is appended. Unless
    /// <paramref name="allowRemote"/>, every address of the host must be loopback so a typo cannot
    /// aim a load run at someone's server.
    /// </summary>
    public static bool TryParseUrl(string text, bool allowRemote, out Uri? url, out string error)
    {
        url = null;
        error = string.Empty;
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https") || parsed.Host.Length == 0)
        {
            error = $"--url \"{text}\" must be an http:// or https:// URL (e.g. http://127.0.0.1:9464)";
            return false;
        }

        if (parsed.Query.Length != 0 || parsed.Fragment.Length != 0 || parsed.UserInfo.Length != 0)
        {
            error = $"--url \"{text}\" must not have a query, a fragment or user info";
            return false;
        }

        var host = parsed.IdnHost.Trim('[', ']');
        if (!TargetHost.TryResolve("--url", host, text, allowRemote, out var addresses, out error))
        {
            return false;
        }

        url = parsed.AbsolutePath is "" or "/" ? new Uri(parsed, MessagesPath) : parsed;
        return true;
    }

    /// <summary>The token from --token or --token-file (surrounding white space ignored, as Tern does for its token files).</summary>
    public static bool TryReadToken(string? token, string? tokenFile, out string value, out string error)
    {
        value = string.Empty;
        error = string.Empty;
        if (token is not null && tokenFile is not null)
        {
            error = "give --token or --token-file, not both";
            return false;
        }

        if (tokenFile is not null)
        {
            try
            {
                token = File.ReadAllText(tokenFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                error = $"cannot read --token-file {tokenFile}: {e.Message}";
                return false;
            }
        }

        value = token?.Trim() ?? string.Empty;
        if (value.Length == 0)
        {
            error = tokenFile is null
                ? "--token TOKEN or --token-file FILE is required (the account's bearer token: tern account token NAME)"
                : $"--token-file {tokenFile} is empty";
            return false;
        }

        // RFC 6750 2.1 b64token: what may follow "Bearer " in the Authorization header.
        if (!value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' or '+' or '/' or '='))
        {
            error = "the token has characters a bearer token cannot have (RFC 6750 b64token: letters, digits, - . _ ~ + / =)";
            return false;
        }

        return true;
    }

    /// <summary>The settings as the reports show them.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Describe() =>
    [
        new("sessions", Sessions.ToString(CultureInfo.InvariantCulture)),
        new("messages", Messages.ToString(CultureInfo.InvariantCulture)),
        new("duration", Report.Durations.Format(Duration)),
        new("size", Sizes.Describe(s => s.ToString(CultureInfo.InvariantCulture))),
        new("body", Structured ? "structured (message)" : "raw"),
        new("rcpt-domains", RcptDomains.Describe(d => d)),
        new("from", From),
        new("rate", Rate > 0 ? Rate.ToString("0.###", CultureInfo.InvariantCulture) + "/s" : "unlimited"),
        new("model", Model == LoadModel.Open ? "open" : "closed"),
        new("timeout", Report.Durations.Format(Timeout)),
    ];
}
