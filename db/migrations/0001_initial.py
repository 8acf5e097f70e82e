from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models import ApprovalStatus, MessageStatus, ToolCallStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ChatSession',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('current_agent', fields.CharField(max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'sessions', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Message',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.ChatSession', source_field='session_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharField(max_length=16)),
                ('content', fields.TextField(unique=False)),
                ('agent', fields.CharField(null=True, max_length=32)),
                ('tool_calls', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('tool_call_id', fields.CharField(null=True, max_length=128)),
                ('status', fields.CharEnumField(default=MessageStatus.COMPLETE, description='COMPLETE: complete\nINTERRUPTED: interrupted\nCANCELLED: cancelled', enum_type=MessageStatus, max_length=11)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'messages', 'app': 'models', 'indexes': [Index(fields=['session_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ToolCallRecord',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('session', fields.ForeignKeyField('models.ChatSession', source_field='session_id', db_constraint=True, to_field='id', related_name='tool_calls', on_delete=OnDelete.CASCADE)),
                ('agent', fields.CharField(max_length=32)),
                ('tool_name', fields.CharField(max_length=64)),
                ('arguments', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharEnumField(default=ToolCallStatus.PENDING, description='PENDING: pending\nDONE: done\nFAILED: failed\nREJECTED: rejected', enum_type=ToolCallStatus, max_length=8)),
                ('result', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'tool_calls', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Approval',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.ChatSession', source_field='session_id', db_constraint=True, to_field='id', related_name='approvals', on_delete=OnDelete.CASCADE)),
                ('call', fields.OneToOneField('models.ToolCallRecord', source_field='call_id', db_constraint=True, to_field='id', related_name='approval', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=ApprovalStatus.PENDING, description='PENDING: pending\nAPPROVED: approved\nEDITED: edited\nREJECTED: rejected\nEXPIRED: expired', enum_type=ApprovalStatus, max_length=8)),
                ('modified_arguments', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('feedback', fields.TextField(null=True, unique=False)),
                ('decided_by', fields.CharField(null=True, max_length=128)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'approvals', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
