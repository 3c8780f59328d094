using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Reflection.Emit;
using Coach.Transport.Cloud;

namespace Coach.Transport.Tests;

/// <summary>
/// The cloud's tail side (TailModel, its jobs and whom it answers) depends on nothing of the
/// connection side: a connection queues jobs at a tail, the tail answers through
/// <c>ITailRequester</c> (docs/architecture.md §2). Checked over signatures and over the IL of every
/// method body, so a cast or a call back into a connection is found as well as a field.
/// </summary>
[RequiresUnreferencedCode("reads the transport assembly's metadata and IL, which trimming would change; tests run untrimmed")]
public class LayeringTests
{
    private const BindingFlags Everything = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static readonly Assembly Transport = typeof(TailModel).Assembly;

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    private static Type TransportType(string name) => Transport.GetType(name, throwOnError: true)!;

    private static IEnumerable<Type> TailSide()
    {
        Type[] roots = [typeof(TailModel), typeof(TailInput), TransportType("Coach.Transport.Cloud.TailJob"), TransportType("Coach.Transport.Cloud.ITailRequester")];
        return roots.SelectMany(WithNested);
    }

    [Fact]
    public void TheTailSideNamesNoConnectionTypeInItsSignatures()
    {
        Type connection = TransportType("Coach.Transport.Cloud.CloudConnection");
        var offenders = new List<string>();
        foreach (Type type in TailSide())
        {
            offenders.AddRange(SignatureTypes(type).Where(t => Mentions(t, connection)).Select(t => $"{type.Name} names {t.Name}"));
        }

        Assert.Empty(offenders);
    }

    [Fact]
    public void TheTailSideCallsNoConnectionMemberInItsMethodBodies()
    {
        Type connection = TransportType("Coach.Transport.Cloud.CloudConnection");
        var offenders = new List<string>();
        foreach (Type type in TailSide())
        {
            foreach (MethodBase method in type.GetMethods(Everything).Cast<MethodBase>().Concat(type.GetConstructors(Everything)))
            {
                offenders.AddRange(ReferencedTypes(method).Where(t => Mentions(t, connection)).Select(t => $"{type.Name}.{method.Name} uses {t.Name}"));
            }
        }

        Assert.Empty(offenders);
    }

    [Fact]
    public void TheBodyScanSeesTheTailAnsweringThroughItsRequester()
    {
        // Keeps the check above honest: the same scan does find what the batch loop does call.
        Type requester = TransportType("Coach.Transport.Cloud.ITailRequester");
        MethodBase runBatch = typeof(TailModel).GetMethod("RunBatch", Everything)!;
        Assert.Contains(requester, ReferencedTypes(runBatch));
    }

    private static IEnumerable<Type> WithNested(Type type) =>
        type.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic).SelectMany(WithNested).Prepend(type);

    private static IEnumerable<Type> SignatureTypes(Type type)
    {
        foreach (Type implemented in type.GetInterfaces().Append(type.BaseType).OfType<Type>())
        {
            yield return implemented;
        }

        foreach (FieldInfo field in type.GetFields(Everything))
        {
            yield return field.FieldType;
        }

        foreach (PropertyInfo property in type.GetProperties(Everything))
        {
            yield return property.PropertyType;
        }

        foreach (MethodBase method in type.GetMethods(Everything).Cast<MethodBase>().Concat(type.GetConstructors(Everything)))
        {
            if (method is MethodInfo info)
            {
                yield return info.ReturnType;
            }

            foreach (ParameterInfo parameter in method.GetParameters())
            {
                yield return parameter.ParameterType;
            }

            foreach (LocalVariableInfo local in method.GetMethodBody()?.LocalVariables ?? [])
            {
                yield return local.LocalType;
            }
        }
    }

    /// <summary>Every type a method body's IL refers to: called or constructed members' types, fields, casts, tokens.</summary>
    private static IEnumerable<Type> ReferencedTypes(MethodBase method)
    {
        byte[]? il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            yield break;
        }

        Type[]? typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        Type[]? methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        int offset = 0;
        while (offset < il.Length)
        {
            short value = il[offset] == 0xFE ? unchecked((short)(0xFE00 | il[offset + 1])) : il[offset];
            OpCode op = OpCodesByValue[value];
            offset += op.Size;
            switch (op.OperandType)
            {
                case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok:
                    MemberInfo? member = method.Module.ResolveMember(BitConverter.ToInt32(il, offset), typeArguments, methodArguments);
                    foreach (Type type in TypesOf(member))
                    {
                        yield return type;
                    }

                    offset += 4;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    offset += 1;
                    break;
                case OperandType.InlineVar:
                    offset += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    offset += 8;
                    break;
                case OperandType.InlineSwitch:
                    offset += 4 + (4 * BitConverter.ToInt32(il, offset));
                    break;
                default:
                    offset += 4; // branch targets, int32, float32, strings, signatures
                    break;
            }
        }
    }

    private static IEnumerable<Type> TypesOf(MemberInfo? member)
    {
        switch (member)
        {
            case Type type:
                yield return type;
                break;
            case FieldInfo field:
                yield return field.DeclaringType!;
                yield return field.FieldType;
                break;
            case MethodBase method:
                yield return method.DeclaringType!;
                if (method is MethodInfo info)
                {
                    yield return info.ReturnType;
                }

                foreach (ParameterInfo parameter in method.GetParameters())
                {
                    yield return parameter.ParameterType;
                }

                break;
        }
    }

    private static bool Mentions(Type type, Type forbidden) =>
        type == forbidden
        || (type.HasElementType && Mentions(type.GetElementType()!, forbidden))
        || (type.IsGenericType && !type.IsGenericTypeDefinition && type.GetGenericArguments().Any(a => Mentions(a, forbidden)));
}
