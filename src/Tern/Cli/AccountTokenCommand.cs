using System.CommandLine;
using Tern.Config;
using Tern.Injection;
using Tern.Sasl.Credentials;

namespace Tern.Cli;

/// <summary>
/// <c>tern account token NAME [--revoke]</c>: the bearer token with which an account uses the HTTP
/// injection API. Kept as a SHA-256 in <c>DATA/api-tokens.json</c>; a running server sees the
/// change at the next request.
/// </summary>
internal static class AccountTokenCommand
{
    public static Command Build(TextWriter stdout, TextWriter stderr, Func<Option<FileInfo>> configOption)
    {
        var config = configOption();
        var user = new Argument<string>("user") { Description = "The account the token stands for (it must exist)." };
        var revoke = new Option<bool>("--revoke") { Description = "Remove the account's token instead of creating one." };
        var command = new Command(
            "token",
            "Create a bearer token for the HTTP injection API (printed once; replaces the account's previous token), or --revoke it.")
        {
            config, user, revoke,
        };
        command.SetAction(r =>
        {
            var loaded = TernCommandLine.LoadOrReport(r.GetValue(config), stderr);
            if (loaded is null)
            {
                return ExitCodes.Config;
            }

            var name = r.GetValue(user)!;
            try
            {
                var tokens = ApiTokenStore.Open(ApiTokenStore.PathIn(loaded.DataDirectory));
                if (r.GetValue(revoke))
                {
                    if (!tokens.Revoke(name))
                    {
                        stderr.WriteLine($"tern: account {name} has no token");
                        return ExitCodes.Failure;
                    }

                    stdout.WriteLine($"token of {name} revoked");
                    return ExitCodes.Ok;
                }

                var accounts = AccountStore.Open(AccountCommands.StorePath(loaded));
                if (!accounts.TryGet(name, out _))
                {
                    stderr.WriteLine($"tern: no account {name} (add it first: tern account add {name})");
                    return ExitCodes.Failure;
                }

                var (token, replaced) = tokens.Create(name, DateTimeOffset.UtcNow);
                stdout.WriteLine($"token for {name}: {token}");
                stdout.WriteLine("(shown once: Tern keeps only its SHA-256; send it as \"Authorization: Bearer TOKEN\")");
                if (replaced)
                {
                    stdout.WriteLine($"the previous token of {name} no longer works");
                }

                return ExitCodes.Ok;
            }
            catch (Exception e) when (e is ApiTokenStoreException or AccountStoreException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine("tern: " + e.Message);
                return ExitCodes.Failure;
            }
        });
        return command;
    }
}
