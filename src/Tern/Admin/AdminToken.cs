using System.Buffers.Text;
using System.Security.Cryptography;
using Tern.Config;

namespace Tern.Admin;

/// <summary>The admin API's token cannot be read or created; the message names the file.</summary>
internal sealed class AdminTokenException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Where the admin API's token came from, for the log line at start (never the token itself).</summary>
/// <param name="Source">The file, or the configuration key that holds it.</param>
/// <param name="Generated">Whether this start created the file.</param>
/// <param name="Warning">Something the operator should fix (a token file others may read), or null.</param>
internal sealed record AdminTokenSource(string Token, string Source, bool Generated, string? Warning);

/// <summary>
/// The bearer token of the HTTP admin API: <c>http.admin_token</c>, or the contents of
/// <c>http.admin_token_file</c>, or else <c>DATA/http-admin.token</c>, generated on the first start
/// (32 random bytes, base64url; mode 0600, fsynced) and reused afterwards.
/// </summary>
internal static class AdminToken
{
    public const string FileName = "http-admin.token";

    /// <summary>Shorter tokens can be guessed or are typing mistakes (the generated one has 43 characters).</summary>
    public const int MinLength = 16;

    /// <summary>A token file larger than this is not a token.</summary>
    private const int MaxFileBytes = 4096;

    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, FileName);

    /// <summary>
    /// What is wrong with a token, or null. A bearer token is sent as an HTTP header, so it must be
    /// an RFC 6750 (2.1) b64token: letters, digits, <c>-._~+/</c>, then optional <c>=</c> padding.
    /// </summary>
    public static string? Check(string token)
    {
        if (token.Length == 0)
        {
            return "the token is empty";
        }

        if (token.Length < MinLength)
        {
            return $"the token has {token.Length} characters; use at least {MinLength} (e.g. openssl rand -base64 32)";
        }

        var padding = token.Length - token.TrimEnd('=').Length;
        for (var i = 0; i < token.Length - padding; i++)
        {
            var c = token[i];
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '.' or '_' or '~' or '+' or '/'))
            {
                return $"the token has a character not allowed in a bearer token at position {i + 1} (allowed: letters, digits, - . _ ~ + / and = at the end)";
            }
        }

        return padding == token.Length ? "the token is only padding" : null;
    }

    /// <summary>Reads a token file: its text without surrounding white space (an editor's final newline).</summary>
    /// <exception cref="AdminTokenException">Unreadable, too large, or not a valid token.</exception>
    public static string ReadFile(string path)
    {
        string text;
        try
        {
            if (new FileInfo(path).Length > MaxFileBytes)
            {
                throw new AdminTokenException($"{path}: larger than {MaxFileBytes} bytes; a token file holds only the token");
            }

            text = File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AdminTokenException($"{path}: cannot read the token: {e.Message}", e);
        }

        return Check(text) is { } problem ? throw new AdminTokenException($"{path}: {problem}") : text;
    }

    /// <summary>The token the configuration asks for, creating <c>DATA/http-admin.token</c> when it names none.</summary>
    /// <exception cref="AdminTokenException">The token cannot be read or created.</exception>
    public static AdminTokenSource Resolve(HttpConfig http, string dataDirectory)
    {
        if (http.AdminToken is { } inline)
        {
            return Check(inline) is { } problem
                ? throw new AdminTokenException($"http.admin_token: {problem}")
                : new AdminTokenSource(inline, "http.admin_token in the configuration", false, null);
        }

        if (http.AdminTokenFile is { } file)
        {
            var token = ReadFile(file);
            var loose = Mode(file) & GroupOrOther;
            return new AdminTokenSource(token, file, false, loose == 0 ? null : $"{file} can be read by other users (mode {Octal(Mode(file))}); chmod 600 it");
        }

        return LoadOrCreate(PathIn(dataDirectory));
    }

    /// <summary>The generated token: read when the file exists, else created.</summary>
    /// <exception cref="AdminTokenException">The file is unreadable or damaged, or cannot be created.</exception>
    public static AdminTokenSource LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            string token;
            try
            {
                token = ReadFile(path);
            }
            catch (AdminTokenException e)
            {
                throw new AdminTokenException($"{e.Message}; delete the file to have a new token generated", e);
            }

            // Tern created it 0600; someone loosened it since.
            string? warning = null;
            var mode = Mode(path);
            if ((mode & GroupOrOther) != 0)
            {
                try
                {
                    File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                    warning = $"{path} had mode {Octal(mode)}; set back to 600 (consider a new token: delete the file and restart)";
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    warning = $"{path} has mode {Octal(mode)} and could not be set to 600: {e.Message}";
                }
            }

            return new AdminTokenSource(token, path, false, warning);
        }

        var generated = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var directory = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        var temp = path + ".tmp";
        try
        {
            // A temporary file renamed into place: a crash never leaves a half-written token behind.
            File.Delete(temp);
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            {
                stream.Write(System.Text.Encoding.ASCII.GetBytes(generated + "\n"));
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path);
            Tern.Platform.Posix.FsyncDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AdminTokenException($"{path}: cannot create the admin token: {e.Message}", e);
        }

        return new AdminTokenSource(generated, path, true, null);
    }

    private static UnixFileMode Mode(string path)
    {
        try
        {
            return File.GetUnixFileMode(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return UnixFileMode.None;
        }
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8);
}
