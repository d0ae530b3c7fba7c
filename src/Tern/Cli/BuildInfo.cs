using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tern.Cli;

/// <summary>What <c>tern version</c> prints.</summary>
public static class BuildInfo
{
    /// <summary>Version with the source revision when the build recorded one (e.g. 0.1.0+3f2a1b4).</summary>
    public static string Version { get; } =
        typeof(BuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    public static string Describe() =>
        $"tern {Version} ({RuntimeInformation.FrameworkDescription}, {RuntimeInformation.RuntimeIdentifier}, {(RuntimeFeature.IsDynamicCodeCompiled ? "JIT" : "Native AOT")})";
}
