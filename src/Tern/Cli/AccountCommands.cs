using System.CommandLine;
using Tern.Config;
using Tern.Sasl.Credentials;

namespace Tern.Cli;

/// <summary>
/// <c>tern account add|passwd|addresses|list|remove|token</c>: the submission accounts in
/// <c>DATA/accounts.json</c>. A running server picks changes up at the next AUTH.
/// </summary>
internal static class AccountCommands
{
    public static Command Build(TextWriter stdout, TextWriter stderr, Func<Option<FileInfo>> configOption)
    {
        var account = new Command("account", "Manage submission accounts (stored as salted SCRAM keys, never as passwords).");

        var addConfig = configOption();
        var addUser = new Argument<string>("user") { Description = "Account name; an address such as alice@example.org may send as itself." };
        var addStdin = PasswordStdinOption();
        var addCram = new Option<bool>("--cram-md5") { Description = "Also keep what CRAM-MD5 needs (off by default: weaker)." };
        var addAddresses = AddressOption();
        var add = new Command("add", "Add an account. Prints a generated password once, unless --password-stdin.") { addConfig, addUser, addStdin, addCram, addAddresses };
        add.SetAction(r => Run(r.GetValue(addConfig), stderr, (store, config) =>
        {
            var user = r.GetValue(addUser)!;
            var (password, generated) = Password(r.GetValue(addStdin));
            var addresses = r.GetValue(addAddresses);
            var a = store.Add(user, password, new AccountOptions
            {
                CramMd5 = r.GetValue(addCram),
                Iterations = config.Auth.Iterations,
                Addresses = addresses is { Length: > 0 } ? addresses : null,
            });
            stdout.WriteLine($"account {a.Username} added; may send as: {Describe(a.Addresses)}");
            if (generated)
            {
                stdout.WriteLine($"password: {password}");
                stdout.WriteLine("(shown once: Tern keeps only salted keys)");
            }
        }));

        var pwConfig = configOption();
        var pwUser = new Argument<string>("user");
        var pwStdin = PasswordStdinOption();
        var pwCram = new Option<bool?>("--cram-md5") { Description = "Enable (true) or disable (false) CRAM-MD5; default: unchanged." };
        var passwd = new Command("passwd", "Set a new password. Prints a generated one once, unless --password-stdin.") { pwConfig, pwUser, pwStdin, pwCram };
        passwd.SetAction(r => Run(r.GetValue(pwConfig), stderr, (store, config) =>
        {
            var user = r.GetValue(pwUser)!;
            var (password, generated) = Password(r.GetValue(pwStdin));
            var cram = r.GetValue(pwCram);
            var current = store.TryGet(user, out var existing) ? existing : null;
            store.SetPassword(user, password, new AccountOptions
            {
                CramMd5 = cram ?? current?.CramMd5Enabled ?? false,
                Iterations = config.Auth.Iterations,
            });
            stdout.WriteLine($"password of {user} changed");
            if (generated)
            {
                stdout.WriteLine($"password: {password}");
                stdout.WriteLine("(shown once: Tern keeps only salted keys)");
            }
        }));

        var adConfig = configOption();
        var adUser = new Argument<string>("user");
        var adPatterns = new Argument<string[]>("patterns")
        {
            Description = "Envelope senders the account may use: alice@example.org, @example.org (any address there), or * (any sender).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var addressesCommand = new Command("addresses", "Set the envelope senders an account may use (no patterns: none).") { adConfig, adUser, adPatterns };
        addressesCommand.SetAction(r => Run(r.GetValue(adConfig), stderr, (store, _) =>
        {
            var user = r.GetValue(adUser)!;
            store.SetAddresses(user, r.GetValue(adPatterns) ?? []);
            store.TryGet(user, out var a);
            stdout.WriteLine($"{user} may send as: {Describe(a!.Addresses)}");
        }));

        var listConfig = configOption();
        var list = new Command("list", "List accounts (name, created, password changed, iterations, CRAM-MD5, senders).") { listConfig };
        list.SetAction(r => Run(r.GetValue(listConfig), stderr, (store, _) =>
        {
            foreach (var a in store.List())
            {
                stdout.WriteLine($"{a.Username}\tcreated={a.Created:yyyy-MM-ddTHH:mm:ssZ}\tpassword_changed={a.PasswordChanged:yyyy-MM-ddTHH:mm:ssZ}\titerations={a.Iterations}\tcram_md5={(a.CramMd5Enabled ? "on" : "off")}\tsenders={Describe(a.Addresses)}");
            }
        }));

        var rmConfig = configOption();
        var rmUser = new Argument<string>("user");
        var remove = new Command("remove", "Remove an account.") { rmConfig, rmUser };
        remove.SetAction(r => Run(r.GetValue(rmConfig), stderr, (store, config) =>
        {
            var user = r.GetValue(rmUser)!;
            store.Remove(user);
            stdout.WriteLine($"account {user} removed");

            // Its injection API token goes with it (a token for a missing account is refused anyway).
            if (Injection.ApiTokenStore.Open(Injection.ApiTokenStore.PathIn(config.DataDirectory)).Revoke(user))
            {
                stdout.WriteLine($"token of {user} revoked");
            }
        }));

        account.Subcommands.Add(add);
        account.Subcommands.Add(passwd);
        account.Subcommands.Add(addressesCommand);
        account.Subcommands.Add(list);
        account.Subcommands.Add(remove);
        account.Subcommands.Add(AccountTokenCommand.Build(stdout, stderr, configOption));
        return account;
    }

    /// <summary>The account file of a configuration: <c>DATA/accounts.json</c>.</summary>
    public static string StorePath(TernConfig config) => Path.Combine(config.DataDirectory, "accounts.json");

    private static string Describe(IReadOnlyList<string> addresses) => addresses.Count == 0 ? "(nothing)" : string.Join(' ', addresses);

    private static Option<bool> PasswordStdinOption() => new("--password-stdin")
    {
        Description = "Read the password from the first line of standard input instead of generating one.",
    };

    private static Option<string[]> AddressOption() => new("--address")
    {
        Description = "A sender the account may use (repeatable): alice@example.org, @example.org or *. Default: the account name if it is an address.",
        AllowMultipleArgumentsPerToken = true,
    };

    private static (string Password, bool Generated) Password(bool fromStdin)
    {
        if (!fromStdin)
        {
            return (PasswordGenerator.Generate(), true);
        }

        var line = Console.In.ReadLine();
        if (string.IsNullOrEmpty(line))
        {
            throw new AccountStoreException("no password on standard input");
        }

        return (line, false);
    }

    private static int Run(FileInfo? configFile, TextWriter stderr, Action<AccountStore, TernConfig> action)
    {
        var config = TernCommandLine.LoadOrReport(configFile, stderr);
        if (config is null)
        {
            return ExitCodes.Config;
        }

        try
        {
            Directory.CreateDirectory(config.DataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var store = AccountStore.Open(StorePath(config));
            action(store, config);
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is AccountStoreException or Injection.ApiTokenStoreException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine("tern: " + e.Message);
            return ExitCodes.Failure;
        }
    }
}
