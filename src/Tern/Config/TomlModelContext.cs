using Tomlyn.Model;
using Tomlyn.Serialization;

namespace Tern.Config;

/// <summary>Source-generated TOML metadata: the config is read as an untyped table and bound by hand, line by line.</summary>
[TomlSerializable(typeof(TomlTable))]
internal sealed partial class TomlModelContext : TomlSerializerContext
{
    public TomlModelContext(Tomlyn.TomlSerializerOptions options)
        : base(options)
    {
    }
}
