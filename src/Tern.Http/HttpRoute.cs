namespace Tern.Http;

/// <summary>The values of a route template's <c>{name}</c> segments in one request's path.</summary>
public sealed class RouteValues
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static readonly RouteValues Empty = new();

    /// <summary>The segment's value (percent-decoded), or an empty string when the template has no such name.</summary>
    public string this[string name] => _values.TryGetValue(name, out var v) ? v : string.Empty;

    internal void Set(string name, string value) => _values[name] = value;
}

/// <summary>
/// A route: a method and a path template of literal segments and <c>{name}</c> segments, each
/// matching exactly one non-empty path segment (<c>/api/v1/queue/{id}/{action}</c>).
/// </summary>
internal sealed class HttpRoute(string method, string template, HttpRouteHandler handler)
{
    private readonly string[] _segments = template.Trim('/').Split('/');

    public string Method { get; } = method;

    public string Template { get; } = template;

    public HttpRouteHandler Handler { get; } = handler;

    /// <summary>Matches the path's segments; the values of the template's names on success.</summary>
    public RouteValues? Match(string[] path)
    {
        if (path.Length != _segments.Length)
        {
            return null;
        }

        RouteValues? values = null;
        for (var i = 0; i < path.Length; i++)
        {
            var s = _segments[i];
            if (s.Length > 2 && s[0] == '{' && s[^1] == '}')
            {
                if (path[i].Length == 0)
                {
                    return null;
                }

                (values ??= new RouteValues()).Set(s[1..^1], Uri.UnescapeDataString(path[i]));
            }
            else if (!string.Equals(s, path[i], StringComparison.Ordinal))
            {
                return null;
            }
        }

        return values ?? RouteValues.Empty;
    }

    public static string[] Split(string path) => path.Trim('/').Split('/');
}
