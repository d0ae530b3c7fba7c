namespace Tern.Fuzz.Support;

/// <summary>A private directory for a target's files (account store, config base), removed when the process exits.</summary>
internal static class TempDirectory
{
    public static string Create(string prefix)
    {
        var dir = Directory.CreateTempSubdirectory(prefix).FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(dir, recursive: true);
        return dir;
    }
}
