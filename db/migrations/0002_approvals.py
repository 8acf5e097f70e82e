from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models import ApprovalStatus, ToolCallStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AllowRule',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.ChatSession', source_field='session_id', db_constraint=True, to_field='id', related_name='allow_rules', on_delete=OnDelete.CASCADE)),
                ('tool_name', fields.CharField(max_length=64)),
                ('pattern', fields.CharField(max_length=512)),
                ('created_by', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'allow_rules', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An "always allow" rule of one session: a tool and a command prefix or path glob.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApprovalAudit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('approval', fields.ForeignKeyField('models.Approval', source_field='approval_id', db_constraint=True, to_field='id', related_name='audit', on_delete=OnDelete.CASCADE)),
                ('decision', fields.CharField(max_length=16)),
                ('decided_by', fields.CharField(max_length=128)),
                ('accepted', fields.BooleanField()),
                ('modified_arguments', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('feedback', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'approval_audit', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Every decision anyone sent, including the ones that came too late.'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Approval',
            name='status',
            field=fields.CharEnumField(default=ApprovalStatus.PENDING, description='PENDING: pending\nAPPROVED: approved\nEDITED: edited\nREJECTED: rejected\nEXPIRED: expired\nCANCELLED: cancelled', enum_type=ApprovalStatus, max_length=9),
        ),
        ops.AlterField(
            model_name='ToolCallRecord',
            name='status',
            field=fields.CharEnumField(default=ToolCallStatus.PENDING, description='PENDING: pending\nDISPATCHED: dispatched\nDONE: done\nFAILED: failed\nREFUSED: refused\nREJECTED: rejected\nEXPIRED: expired\nCANCELLED: cancelled', enum_type=ToolCallStatus, max_length=10),
        ),
        ops.AddField(
            model_name='ToolCallRecord',
            name='deadline',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
